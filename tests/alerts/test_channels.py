"""Alerts that reach people: routed by kind and authority from one routes file to e-mail (a
local aiosmtpd server) and webhooks (a local HTTP receiver), kept and retried when they cannot
be sent, and logged then."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts.channels import deliver
from alerts.notify import raise_alert
from alerts.outbox import unsent
from alerts.routes import RoutesError, load_routes
from oversight.access_alerts import raise_access_alert
from pipelines.environment import configure_rooms
from register.db import open_register
from tests.browser import free_port
from tests.mail import LocalSmtp


class Receiver:
    """A webhook receiver on loopback keeping the JSON it is sent."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's handler name)
                posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def engine(sqlite_url):
    return open_register(sqlite_url)


def routes(smtp, hook, tmp_path, monkeypatch, port=None):
    env = smtp.routes_file(tmp_path, [
        {"alerts": ["run_failed", "checks_failed"], "email": ["data-team@example.gov.uk"], "webhook": [hook]},
        {"alerts": ["access"], "authorities": ["880"], "email": ["privacy880@example.gov.uk"]},
        {"alerts": ["access"], "authorities": ["881"], "email": ["privacy881@example.gov.uk"]}])
    if port is not None:  # the same routes, with the SMTP server somewhere it is not
        path = env["ROLLCALL_ALERT_ROUTES"]
        text = open(path).read().replace(f"port: {smtp.port}", f"port: {port}")
        open(path, "w").write(text)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    configure_rooms()


def test_a_run_failure_reaches_the_data_team_by_email_and_webhook(engine, sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge
    with LocalSmtp() as smtp, Receiver() as hook:
        routes(smtp, hook.url, tmp_path, monkeypatch)
        raise_alert("run_failed", sqlite_url, run_id="run-1", job="relink_job", steps=["links"])
        (mail,) = smtp.inbox.wait_for(1)
    assert mail["To"] == "data-team@example.gov.uk" and "a pipeline run failed" in mail["Subject"]
    assert "run-1" in mail.get_payload(decode=True).decode() and "links" in mail.get_payload(decode=True).decode()
    (posted,) = hook.posts
    assert set(posted) == {"text"} and "a pipeline run failed" in posted["text"] and "run-1" in posted["text"]
    assert unsent(engine) == []


def test_an_access_alert_goes_to_its_authoritys_privacy_officer_only(engine, tmp_path, monkeypatch):
    with LocalSmtp() as smtp, Receiver() as hook:
        routes(smtp, hook.url, tmp_path, monkeypatch)
        raise_access_alert(engine, "same_surname", "tom", "k1", la_codes=["880"], children=["RC0000000001"])
        assert deliver(engine)["sent"] == 1
        mails = smtp.inbox.wait_for(1)
    assert [m["To"] for m in mails] == ["privacy880@example.gov.uk"]
    assert "https://rollcall.example/alerts" in mails[0].get_payload(decode=True).decode()
    assert hook.posts == [], "the data team's webhook does not take access alerts"


def test_an_alert_that_cannot_be_sent_is_kept_logged_and_sent_later(engine, tmp_path, monkeypatch, caplog):
    with LocalSmtp() as smtp, Receiver() as hook:
        routes(smtp, hook.url, tmp_path, monkeypatch, port=free_port())  # nothing listens there
        raise_access_alert(engine, "break_glass", "gil", "k2", la_codes=["881"], children=["RC0000000002"])
        with caplog.at_level(logging.ERROR):
            assert deliver(engine) == {"sent": 0, "failed": 1, "no_recipient": 0}
        assert "sending failed (ConnectionRefusedError, attempt 1)" in caplog.text
        (kept,) = unsent(engine)
        assert kept.attempts == 1 and kept.last_error == "ConnectionRefusedError"
        routes(smtp, hook.url, tmp_path, monkeypatch)  # the server is back
        assert deliver(engine)["sent"] == 1
        (mail,) = smtp.inbox.wait_for(1)
    assert mail["To"] == "privacy881@example.gov.uk" and unsent(engine) == []


def test_an_alert_no_route_takes_is_kept_and_logged(engine, tmp_path, monkeypatch, caplog):
    with LocalSmtp() as smtp, Receiver() as hook:
        routes(smtp, hook.url, tmp_path, monkeypatch)
        raise_access_alert(engine, "hourly_limit", "zoe", "k3", la_codes=["882"])
        with caplog.at_level(logging.ERROR):
            assert deliver(engine) == {"sent": 0, "failed": 0, "no_recipient": 1}
    assert "no route takes it" in caplog.text and len(unsent(engine)) == 1


def test_a_broken_routes_file_is_refused_with_the_reason(tmp_path):
    bad = tmp_path / "routes.yaml"
    bad.write_text("routes:\n  - email: [x@example.gov.uk]\n")
    with pytest.raises(RoutesError, match="route 1 must say which alerts"):
        load_routes(bad)
    bad.write_text("routes: [\n")
    with pytest.raises(RoutesError, match="cannot read"):
        load_routes(bad)
