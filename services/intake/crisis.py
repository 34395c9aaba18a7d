"""Pure detector for crisis language (Dutch and English) in what a help-seeker writes."""

import re
import unicodedata
from bisect import bisect_left, bisect_right
from typing import NamedTuple

CRISIS_CATEGORIES: frozenset[str] = frozenset({"suicide", "self_harm", "violence", "overdose"})

# How many words before a phrase a negator ("niet", "never", ...) may stand to cancel it.
_NEGATION_WINDOW = 3
_NEGATORS = frozenset(
    "niet geen nooit niks niets zonder "
    "not no never nothing without nor dont doesnt didnt isnt wasnt arent werent "
    "havent hasnt hadnt wont wouldnt shouldnt".split()
)
# Dutch often negates after the phrase ("hij slaat me niet"); one word after is checked too.
_NEGATORS_AFTER = frozenset({"niet", "nooit", "not", "never"})
# A negator before one of these words belongs to another clause ("niet X, maar wel Y").
_CLAUSE_WORDS = frozenset({"maar", "but", "toch", "though", "however"})
_APOSTROPHES = str.maketrans("", "", "'’‘`´ʼ")
_TOKEN = re.compile(r"[^\W_]+|[.!?;:,\n]")

_ME = r"(?:mezelf|mijzelf|mzelf|mn zelf|m n zelf)"
_PILLS = (
    r"(?:slaap)?(?:pillen|pil|pilletjes|tabletten|medicijnen|medicatie|paracetamols?|"
    r"pijnstillers|oxazepam|temazepam|slaapmiddel\w*)"
)
_PILLS_EN = (
    r"(?:sleeping )?(?:pills|tablets|meds|medication|medicine|painkillers|paracetamol|tylenol)"
)


class _Pattern(NamedTuple):
    category: str
    regex: re.Pattern[str]
    # False for phrases that are negative themselves ("niet meer leven"), so a negator is part
    # of the crisis wording rather than a denial of it.
    negatable: bool


def _p(category: str, pattern: str, *, negatable: bool = True) -> _Pattern:
    return _Pattern(category, re.compile(rf"\b(?:{pattern})\b"), negatable)


# Patterns run on normalised text: lowercase words without accents, separated by single spaces,
# apostrophes removed ("don't" -> "dont", "m'n" -> "mn"). The phrasings are modelled on how
# 113 Zelfmoordpreventie describes people voicing suicidal thoughts ("ik wil er niet meer zijn"),
# common self-harm wording (Samaritans/NHS) and Veilig Thuis wording for acute domestic danger.
_PATTERNS: tuple[_Pattern, ...] = (
    # Suicide named directly, with common misspellings ("zelfmord", "sucide", "suïcide").
    _p("suicide", r"(?:zelf|zelv|zel|self) ?mo*rd\w*|su[iy]?c[iy]?d\w*|zelfdoding\w*"),
    # "Ik wil dood", "dood willen", "ik wil gewoon doodgaan", "was ik maar dood".
    _p(
        "suicide",
        r"(?:wil|wilde|wou|willen) (?:ik )?(?:(?:gewoon|graag|echt|liever|ook|zo|alleen|maar|"
        r"eigenlijk|het liefst|nu|zelf) )*dood(?: ?gaan)?(?! van)"
        r"|dood (?:te )?(?:willen|wil|wilde|wou)"
        r"|(?:liever|beter) dood|was ik (?:\w+ )?dood|dat ik (?:\w+ )?dood (?:was|ben|ging|zou|wil)"
        r"|(?:denk|denken|dacht) (?:\w+ ){0,2}aan de dood(?! van)",
    ),
    # 113: "ik wil niet meer leven", "ik wil er niet meer zijn", "ik zie het niet meer zitten".
    _p(
        "suicide",
        r"niet (?:meer (?:verder )?|verder )(?:te )?(?:willen )?leven"
        r"|(?:wil|wilde|wou|zou) (?:(?:\w+) ){0,2}er niet meer (?:willen )?zijn"
        r"|was ik er (?:\w+ )?niet meer|dat ik er niet meer (?:was|ben)"
        r"|zie het (?:allemaal )?niet meer zitten|geen (?:andere )?uitweg meer"
        r"|geen zin (?:meer )?(?:om )?(?:te |in )?(?:het |mijn |mn )?leven"
        r"|leven (?:\w+ ){0,3}geen zin|waarom (?:zou|moet) ik (?:nog )?(?:blijven |verder )?leven"
        r"|(?:niks|niets) (?:meer )?om voor te leven|(?:niet|nooit) meer wakker"
        r"|beter af zonder mij|beter af als ik (?:er )?(?:niet meer|dood)",
        negatable=False,
    ),
    # "Er een eind(e) aan maken", "uit het leven stappen", concrete methods.
    _p(
        "suicide",
        r"einde? aan (?:(?:mijn |mn |het |dit |mijn eigen )leven |alles |het |dit )?(?:te )?maken"
        r"|maak er (?:\w+ )?een einde? aan|uit het leven (?:te )?(?:stappen|stap)"
        r"|(?:me|mezelf|mijzelf) (?:van kant (?:te )?maken|op te hangen|ophangen)"
        r"|voor (?:de|een) trein (?:te )?(?:springen|spring|gaan liggen)"
        r"|van (?:de|een|het) (?:flat|dak|brug|gebouw) (?:af )?(?:te )?(?:springen|spring)",
    ),
    # English: "I want to die", "kill myself", "end it all", "take my own life".
    _p(
        "suicide",
        r"(?:want|wanna|wanted|wish|ready) (?:to )?(?:just )?(?:die|be dead)"
        r"|kill(?:ing|ed)? my ?self|end(?:ing)? (?:it all|my (?:own )?life)"
        r"|tak(?:e|ing) my (?:own )?life|rather be dead|wish (?:i|id) (?:was|were|could be) dead"
        r"|jump(?:ing)? (?:off (?:a|the) (?:bridge|building|roof)|in front of (?:a|the) train)",
    ),
    # English phrases that carry their own negation.
    _p(
        "suicide",
        r"(?:dont|do not|no longer|never) (?:really )?(?:want|wanna) (?:to )?"
        r"(?:live|be alive|exist)(?! with| in| at| near| there| on| together| alone| without)"
        r"|(?:dont|do not) (?:want|wanna) (?:to )?be here any ?more"
        r"|(?:no|any) (?:reason|point) (?:left )?(?:to|in|of) (?:live|living|go on|going on)"
        r"|(?:cant|cannot|can not) (?:go on|keep) living"
        r"|whats the point (?:of|in) (?:living|life|going on)|nothing (?:left )?to live for"
        r"|better off (?:dead|without me)|wish i (?:wasnt|werent|was not) (?:alive|here|around)"
        r"|(?:hope|wish|want to|wanna|pray) (?:\w+ ){0,3}(?:never|not|dont|wont) wake up"
        r"|sleep and never wake up|(?:no one|nobody) would (?:even )?(?:miss|notice) me",
        negatable=False,
    ),
    # Self-harm: "mezelf iets aandoen", "snijden", "krassen", "hurt myself".
    _p(
        "self_harm",
        rf"{_ME} (?:iets |wat )?(?:aan ?doen|aan te doen|aandoe|aan doe)"
        r"|ik (?:\w+ ){0,3}me (?:iets |wat )?(?:aan ?doen|aan te doen|aandoe)"
        r"|(?:doe|deed) (?:me|mezelf|mijzelf) (?:iets |wat )?aan"
        rf"|{_ME} (?:\w+ ){{0,2}}(?:snij|snijd|snijden|sneed|gesneden|krassen|kras|gekrast|"
        r"branden|brand|verwonden|verwond|pijn|beschadigen)"
        r"|(?:snij|snijd|snijden|sneed|kras|krassen|gekrast) (?:\w+ ){0,2}(?:mezelf|mijzelf"
        r"|(?:in )?(?:mijn|mn) (?:arm|armen|pols|polsen|been|benen|huid|bovenbenen))"
        r"|(?:pols|polsen) (?:door ?(?:te )?snijden|doorsnijd|doorgesneden)"
        r"|zelf ?beschadig\w*|automutilatie|self ?harm\w*|self ?injur\w*"
        r"|(?:hurt|hurting|cut|cutting|burn|burning|harm|harming|injure|injuring|punish|punishing)"
        r" my ?self(?! (?:playing|when|while|during|at work|at the gym|falling))"
        r"|(?:cut|cutting|slit|slitting) (?:my )?wrists?",
    ),
    # Violence happening now: "hij slaat me", "ik ben in gevaar", "he is hitting me".
    _p(
        "violence",
        r"(?:slaat|sloeg|schopt|wurgt|mishandelt|bedreigt|slaan|schoppen) (?:me|mij)"
        r"|(?:word|wordt) (?:\w+ ){0,2}(?:geslagen|mishandeld|bedreigd|gewurgd|verkracht)"
        r"|(?:hij|zij|ze|hem|haar) (?:\w+ ){0,3}(?:me|mij|ons) (?:iets )?(?:aan ?doen|aan te doen"
        r"|vermoorden|te vermoorden|dood ?(?:te )?maken|om ?(?:te )?brengen)"
        r"|(?:ik ben|ben ik|we zijn|wij zijn|zijn we|zijn wij) (?:nu |hier |thuis |echt )*in "
        r"(?:acuut |direct |groot )?(?:levens)?gevaar"
        r"|(?:hij|zij|ze) (?:heeft|pakt|pakte|dreigt met) (?:een )?(?:mes|pistool|wapen)"
        r"|(?:he|hes|she|shes|they|theyre|someone|somebody|husband|wife|partner|boyfriend|girlfriend|father|dad"
        r"|mother|mom|mum|ex) (?:\w+ ){0,2}(?:hits|hitting|beats|beating|chokes|choking"
        r"|strangles|strangling|attacks|attacking|threatens|threatening|abuses|abusing) (?:me|us)"
        r"|(?:threaten\w*|trying|tried|tries|wants|wanted) to (?:kill|hurt|murder|stab|shoot"
        r"|strangle) (?:me|us)"
        r"|(?:im|i am|we are|were) (?:now |really )*in (?:immediate |real |serious )?danger(?! of)"
        r"|(?:he|she|they) (?:has|have|got|s got|grabbed) (?:a )?(?:knife|gun|weapon)",
    ),
    _p(
        "violence",
        r"(?:ik ben|ben ik|we zijn|zijn we|wij zijn) (?:thuis |hier |nu )*niet (?:meer )?veilig"
        r"(?! geweest)"
        r"|niet (?:meer )?veilig thuis|(?:im|i am|we are) not safe"
        r"|(?:dont|do not) feel safe (?:at home|here|with him|with her)",
        negatable=False,
    ),
    # Overdose: "pillen geslikt", "te veel medicijnen genomen", "took too many pills".
    _p(
        "overdose",
        r"overdos\w*"
        rf"|(?<!mijn )(?<!mn )(?<!de )(?:slaap)?pillen (?:\w+ )?geslikt"
        r"|(?:te ?veel|een (?:hele|volle) \w+|een handvol|een hoop|een heleboel|heel veel|\d{2,})"
        rf" (?:\w+ ){{0,2}}{_PILLS} (?:\w+ ){{0,3}}(?:geslikt|ingenomen|genomen|slikken|innemen"
        r"|in te nemen)"
        rf"|{_PILLS} (?:\w+ ){{0,2}}(?:in een keer|tegelijk|allemaal) (?:\w+ )?(?:geslikt|ingenomen"
        r"|genomen|slikken|innemen|in te nemen)"
        r"|(?:took|taken|swallowed|swallow|take|taking|popped) (?:too many|too much|all (?:of )?"
        r"(?:my|the|those)|a (?:whole|full) \w+ of|a handful of|a bunch of|lots of|loads of"
        rf"|\d{{2,}}) (?:\w+ ){{0,2}}{_PILLS_EN}",
    ),
)

# Someone else's completed suicide or overdose: grief, not acute danger for the writer
# ("na de zelfmoord van mijn broer", "lost my son to suicide").
_BEREAVEMENT = re.compile(
    r"\b(?:"
    r"(?:zelfmoord|zelfdoding|suicide|overdosis|overdose) (?:gepleegd|van (?:mijn|mn|onze|ons"
    r"|zijn|haar|hun|een))|pleegde (?:\w+ )?(?:zelfmoord|zelfdoding)"
    r"|(?:na|door|sinds) (?:de|het|zijn|haar|hun) (?:zelfmoord|zelfdoding|suicide)"
    r"|(?:overleden|overleed|gestorven|stierf|stierven) (?:\w+ ){0,2}(?:aan|door) (?:een )?"
    r"(?:zelfmoord|zelfdoding|suicide|overdosis)"
    r"|nabestaande\w* (?:\w+ ){0,2}(?:zelfmoord|zelfdoding|suicide)"
    r"|committed suicide|(?:died|death|dying) (?:by|of|from) (?:an )?(?:suicide|overdose)"
    r"|(?:lost|losing) (?:\w+ ){1,3}to (?:an )?(?:suicide|overdose)"
    r"|(?:after|since) (?:his|her|their|the) suicide"
    r"|suicide (?:of (?:my|our|his|her|a)|loss|survivors?|bereavement)"
    r")\b"
)


class _Text(NamedTuple):
    flat: str
    starts: list[int]
    words: list[str]
    # breaks[i]: a clause boundary (. , ! ? ; : newline) stands right before word i.
    breaks: list[bool]


def _normalise(text: str) -> _Text:
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(
        ch for ch in text if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf"
    ).casefold()
    words: list[str] = []
    breaks: list[bool] = []
    starts: list[int] = []
    pending_break = False
    offset = 0
    for token in _TOKEN.findall(text):
        if not token[0].isalnum():
            pending_break = True
            continue
        words.append(token)
        breaks.append(pending_break)
        starts.append(offset)
        offset += len(token) + 1
        pending_break = False
    return _Text(" ".join(words), starts, words, breaks)


def _negated(text: _Text, start: int, end: int) -> bool:
    first = bisect_right(text.starts, start) - 1
    last = bisect_left(text.starts, end)
    if any(word in _NEGATORS for word in text.words[first:last]):
        return True
    if last < len(text.words) and not text.breaks[last] and text.words[last] in _NEGATORS_AFTER:
        return True
    index = first
    for _ in range(_NEGATION_WINDOW):
        if index <= 0 or text.breaks[index]:
            return False
        index -= 1
        if text.words[index] in _CLAUSE_WORDS:
            return False
        if text.words[index] in _NEGATORS:
            return True
    return False


def crisis_categories(text: str | None) -> frozenset[str]:
    """Return the crisis category codes (see CRISIS_CATEGORIES) the text suggests, if any."""
    if not text or not isinstance(text, str):
        return frozenset()
    normal = _normalise(text)
    bereavement = [m.span() for m in _BEREAVEMENT.finditer(normal.flat)]
    found: set[str] = set()
    for pattern in _PATTERNS:
        if pattern.category in found:
            continue
        for match in pattern.regex.finditer(normal.flat):
            start, end = match.span()
            if any(b_start <= start < b_end for b_start, b_end in bereavement):
                continue
            if pattern.negatable and _negated(normal, start, end):
                continue
            found.add(pattern.category)
            break
    return frozenset(found)


def detect_crisis(text: str | None) -> bool:
    """Return True when the text suggests acute danger (suicide, self-harm, violence, overdose)."""
    return bool(crisis_categories(text))
