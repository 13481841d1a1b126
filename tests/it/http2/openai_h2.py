"""The official openai SDK over HTTPS with HTTP/2 (its httpx2 client with http2=True, the
pinned h2 underneath), against the gateway's LLM route: one chat completion and one stream.

  openai_h2.py BASE_URL CA_FILE   prints {"version", "content", "stream"} as JSON
"""

import json
import ssl
import sys

import httpx2
import openai


def main():
    base_url, ca = sys.argv[1], sys.argv[2]
    http = httpx2.Client(http2=True, verify=ssl.create_default_context(cafile=ca), timeout=15)
    client = openai.OpenAI(base_url=base_url, api_key="unused", http_client=http, max_retries=0)
    messages = [{"role": "user", "content": "hello over h2"}]
    raw = client.chat.completions.with_raw_response.create(model="demo", messages=messages)
    completion = raw.parse()
    stream = client.chat.completions.create(model="demo", messages=messages, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    print(
        json.dumps(
            {
                "version": raw.http_response.http_version,
                "content": completion.choices[0].message.content,
                "stream": text,
            }
        )
    )


if __name__ == "__main__":
    main()
