"""Rebuild data/sample.warc.gz, the bundled offline sample, from the seed page's text.

    python -m scripts.build_sample

Ids 262804 (the seed page as served: articles 262804 and 263624), 263624 (its second
article on a page of its own), and three misses in the forms the site uses: a 404, a
redirect to / and a 200 page that says the post is gone.
"""

from __future__ import annotations

from tests.support import (
    MISSING_200,
    NOT_FOUND,
    ROOT,
    SEED_A,
    SEED_B,
    markup_div_br,
    markup_semantic,
    page,
    redirect,
)
from zkiz_corpus.sources import Exchange, WarcRecorder

SAMPLE = ROOT / "data" / "sample.warc.gz"


def main() -> None:
    responses = {
        262804: page(markup_div_br([SEED_A, SEED_B])),
        262805: NOT_FOUND,
        262806: redirect("/"),
        262807: page(MISSING_200),
        263624: page(markup_semantic([SEED_B])),
    }
    SAMPLE.unlink(missing_ok=True)
    recorder = WarcRecorder(SAMPLE)
    for article_id, response in responses.items():
        recorder.write_exchange(
            Exchange(
                url=f"https://articles.zkiz.com/?id={article_id}",
                request_headers={"Host": "articles.zkiz.com", "User-Agent": "zkiz-corpus sample"},
                status=response.status,
                reason={200: "OK", 302: "Found", 404: "Not Found"}[response.status],
                http_version="HTTP/1.1",
                response_headers=list(response.headers.items()),
                body=response.body,
            )
        )
    recorder.close()
    print(f"wrote {SAMPLE} ({SAMPLE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
