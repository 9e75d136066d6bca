"""SSRF refusals: every forbidden range, IPv6 and IPv4-mapped forms, and names resolving to them."""

import pytest

from webhooks import targets

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.10", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "shared"),
    ("100.127.255.254", "shared"),
    ("224.0.0.251", "multicast"),
    ("240.0.0.1", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("192.0.2.1", "private"),  # TEST-NET-1 (documentation)
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("2001:db8::1", "private"),  # documentation
]


@pytest.fixture(autouse=True)
def _production_rules(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_ALLOW_HTTP = False


@pytest.mark.parametrize("address,reason", REFUSED, ids=[a for a, _ in REFUSED])
def test_a_literal_address_in_a_forbidden_range_is_refused(address, reason):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(targets.TargetRefused, match=reason):
        targets.target_resolve(f"https://{host}/hook")


@pytest.mark.parametrize("address,reason", REFUSED, ids=[a for a, _ in REFUSED])
def test_a_name_resolving_to_a_forbidden_address_is_refused(monkeypatch, address, reason):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["93.184.215.14", address])
    with pytest.raises(targets.TargetRefused, match=reason):
        targets.target_resolve("https://hooks.example.com/hook")


def test_a_public_name_is_accepted_with_every_address_kept(monkeypatch):
    monkeypatch.setattr(
        targets, "resolve", lambda host, port: ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    )
    target = targets.target_resolve("https://hooks.example.com:8443/in?x=1")
    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/in?x=1")
    assert target.addresses == ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")


@pytest.mark.parametrize(
    "url,message",
    [
        ("http://hooks.example.com/", "https"),
        ("ftp://hooks.example.com/", "https"),
        ("file:///etc/passwd", "https"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https:///nohost", "no host"),
        ("https://hooks.example.com:99999/", "valid URL"),
    ],
)
def test_other_schemes_credentials_and_broken_urls_are_refused(monkeypatch, url, message):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["93.184.215.14"])
    with pytest.raises(targets.TargetRefused, match=message):
        targets.target_resolve(url)


def test_an_unresolvable_name_is_refused(monkeypatch):
    def fail(host, port):
        raise OSError("Name or service not known")

    monkeypatch.setattr(targets, "resolve", fail)
    with pytest.raises(targets.TargetRefused, match="does not resolve"):
        targets.target_resolve("https://nowhere.invalid/")


def test_the_development_settings_allow_loopback_over_http(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOW_HTTP = True
    assert targets.target_resolve("http://127.0.0.1:9/x").addresses == ("127.0.0.1",)
