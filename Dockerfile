# One image for every service: `opendeur serve intake|routing|notify|audit` (and `opendeur migrate`).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OPENDEUR_HOST=0.0.0.0 OPENDEUR_LOG_FORMAT=json
WORKDIR /app
COPY pyproject.toml README.md ./
COPY opendeur ./opendeur
COPY contracts ./contracts
COPY services ./services
RUN pip install --no-cache-dir . && useradd --system --uid 10001 opendeur
USER 10001
EXPOSE 8080 8081 8082 8083
ENTRYPOINT ["opendeur"]
CMD ["serve", "intake"]
