"""`make run`'s banner and ready line: the host and port the server really runs on, as HOST
and PORT set them, with an address a browser can open; and the mode it runs in."""

from __future__ import annotations

from pathlib import Path

from ops import serve


def banner_for(**environ: str) -> str:
    return serve.banner(config=serve.serve_config(environ=environ))


def test_the_banner_shows_host_and_ports_from_the_environment() -> None:
    text = banner_for(HOST="127.0.0.2", PORT="9000", WS_PORT="9001")
    assert "  HTTP       http://127.0.0.2:9000\n" in text
    assert "  WebSocket  ws://127.0.0.2:9001/ws/\n" in text
    assert "8000" not in text and "8001" not in text
    assert "  HTTP       http://127.0.0.1:8000\n" in banner_for()
    one_port = banner_for(SERVER="uvicorn", PORT="9100")
    assert "  WebSocket  ws://127.0.0.1:9100/ws/\n" in one_port


def test_a_wildcard_bind_is_opened_on_the_loopback_address(tmp_path: Path) -> None:
    config = serve.serve_config(environ={"HOST": "0.0.0.0", "PORT": "9000", "WS_PORT": "9001"})
    text = serve.banner(config=config)
    assert "  HTTP       http://127.0.0.1:9000 (bound to 0.0.0.0: every interface)\n" in text
    assert serve.browse_url(config=config) == "http://127.0.0.1:9000"
    env = serve.child_environment(config=config, environ={}, metrics_dir=tmp_path)
    # The pages open the socket on the host the browser opened the page on, so it gets the
    # session cookie; forms are trusted from that origin on this port, never 8000.
    assert env["LAB_WS_URL"] == "ws://127.0.0.1:9001/ws/"
    origins = env["CSRF_TRUSTED_ORIGINS"].split(",")
    assert "http://127.0.0.1:9000" in origins and "http://localhost:9000" in origins
    assert not any(origin.endswith(":8000") for origin in origins)


def test_an_ipv6_host_is_bracketed() -> None:
    config = serve.serve_config(environ={"HOST": "::1", "PORT": "9000"})
    assert serve.browse_url(config=config) == "http://[::1]:9000"
    assert serve.serve_urls(config=config)[1] == "ws://[::1]:8001/ws/"
    wildcard = serve.serve_config(environ={"HOST": "::", "PORT": "9000"})
    assert serve.browse_url(config=wildcard) == "http://127.0.0.1:9000"


def test_the_banner_says_which_mode_it_runs_in() -> None:
    development = banner_for()
    production = banner_for(DEBUG="0")

    assert development.splitlines()[0].startswith("DEVELOPMENT mode (DEBUG=1)")
    assert production.splitlines()[0].startswith("PRODUCTION mode (DEBUG=0)")
    assert "no demo login" in production.splitlines()[0]
