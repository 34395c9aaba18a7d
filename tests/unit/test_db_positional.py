"""`db.positional`: a statement with `:name` parameters as the driver takes it."""

from __future__ import annotations

from opendeur.db import positional


def test_names_become_numbers_in_order_of_first_use_and_a_repeat_keeps_its_number() -> None:
    sql, names = positional("insert into t (a, b, c) values (:a, :b, :a) returning :c_1")
    assert sql == "insert into t (a, b, c) values ($1, $2, $1) returning $3"
    assert names == ("a", "b", "c_1")


def test_casts_times_and_words_after_a_colon_are_not_parameters() -> None:
    sql, names = positional("select x::text, :at::timestamptz, '10:00', y.z:: int from q")
    assert sql == "select x::text, $1::timestamptz, '10:00', y.z:: int from q"
    assert names == ("at",)
