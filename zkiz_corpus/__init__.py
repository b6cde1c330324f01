"""Turn the ZKIZ Archives into a clean Chinese JSON Lines corpus."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/zkiz-corpus/zkiz-corpus"
CANONICAL_BASE = "https://articles.zkiz.com/"


def canonical_url(article_id: int) -> str:
    """The permalink every record carries, whatever host it was fetched from."""
    return f"{CANONICAL_BASE}?id={article_id}"
