"""The test app's credentials: the fakes check them, and no log or page may show the secrets."""

CONSUMER_KEY = "test-consumer-key"
CONSUMER_SECRET = "test-consumer-secret-do-not-log"
DISCORD_TOKEN = "test-discord-token.never-logged.0123456789"
