"""The egress decision and the display form of URLs: pure functions of the URL and the patterns."""

from __future__ import annotations

import base64

import pytest

from modelmonitor.policy.egress import URLRefused, endpoint, parse_patterns, refusal, scrub, shown


def allowed(url: str, *patterns: str) -> bool:
    return refusal(url, parse_patterns(list(patterns)), field="spec.x") is None


# ------------------------------------------------------------------------------------------ shown


@pytest.mark.parametrize(
    ("url", "display"),
    [
        ("https://hooks.slack.com/services/T000/B000/SECRETxyz", "https://hooks.slack.com"),
        ("http://user:pass@prometheus.monitoring.svc:9090/prom?x=1", "http://prometheus.monitoring.svc:9090"),
        ("http://[fd00::1]:8080/a", "http://[fd00::1]:8080"),
        ("HTTP://Example.COM./x#frag", "http://example.com"),
        ("https://h.example/?token=abc", "https://h.example"),
        ("http://a.svc@evil.com/x", "http://evil.com"),
        ("ftp://user:pw@host/", "(invalid URL)"),
        ("db-password-value", "(invalid URL)"),
        ("http://evil.com\\@a.svc/", "(invalid URL)"),
        ("", "(invalid URL)"),
    ],
)
def test_a_url_is_shown_as_scheme_host_and_port_only(url: str, display: str) -> None:
    assert shown(url) == display


def test_scrub_removes_the_url_its_path_query_and_userinfo_from_a_text() -> None:
    url = "https://bob:SECRETpw@hooks.example.com/T000/B000/SECRET%2Bxyz?token=SECRETq&x=y"
    text = (
        f"HTTPSConnectionPool: Max retries exceeded with url: /T000/B000/SECRET%2Bxyz?token=SECRETq&x=y; "
        f"full {url}; decoded /T000/B000/SECRET+xyz; user bob:SECRETpw; alone SECRETq"
    )
    out = scrub(text + " Authorization: Basic " + base64.b64encode(b"bob:SECRETpw").decode(), url)
    assert "SECRET" not in out
    assert base64.b64encode(b"bob:SECRETpw").decode() not in out
    assert "HTTPSConnectionPool" in out


# ---------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "not an absolute http"),
        ("gopher://h/", "not an absolute http"),
        ("//host/x", "not an absolute http"),
        ("/relative", "not an absolute http"),
        ("http://h/\n", "whitespace"),
        ("http://h/ x", "whitespace"),
        ("http://h/\x00", "control"),
        ("http://hé.example/", "non-ASCII"),
        ("http://" + "a" * 2050, "over 2048"),
        ("http://2130706433/", "canonical IPv4"),
        ("http://0x7f.1/", "canonical IPv4"),
        ("http://127.1/", "canonical IPv4"),
        ("http://010.0.0.1/", "canonical IPv4"),
        ("http://a@b@evil.com/", "no valid host"),
        ("http://h:0/", "port"),
        ("http://h:65536/", "port"),
        ("http://h:80x/", "port"),
        ("http://[::1/", "IPv6|closing bracket"),
        ("http://[nothex]/", "IPv6"),
        ("http://under_score.svc/", "not a valid host"),
        ("http://%65vil.com/", "not a valid host"),
        ("http:///path", "no valid host"),
    ],
)
def test_urls_two_parsers_could_read_differently_are_refused(url: str, why: str) -> None:
    with pytest.raises(URLRefused, match=why):
        endpoint(url)


def test_a_refusal_never_repeats_the_url() -> None:
    for url in (
        "http://h/SECRET xyz",
        "ftp://SECRET@h/",
        "http://SECRET@a@b/",
        "SECRETvalue",
        "secretpw://x",
    ):
        reason = refusal(url, (), field="spec.x")
        assert reason is not None and reason.startswith("spec.x: ")
        assert "SECRET" not in reason


def test_effective_ports_are_the_schemes_defaults() -> None:
    assert endpoint("http://h/").port == 80
    assert endpoint("https://h/").port == 443
    assert endpoint("https://h:8443/").port == 8443


# -------------------------------------------------------------------------------------- allowlist


def test_an_empty_allowlist_allows_any_http_host_but_no_other_scheme() -> None:
    assert allowed("http://anything.example.com:1234/x")
    assert allowed("https://10.1.2.3/")
    assert not allowed("file:///etc/passwd")


def test_an_exact_host_matches_itself_only_case_insensitively() -> None:
    assert allowed("https://HOOKS.Slack.com/services/x", "hooks.slack.com")
    assert allowed("https://hooks.slack.com./services/x", "hooks.slack.com")
    assert not allowed("https://evilhooks.slack.com/", "hooks.slack.com")
    assert not allowed("https://hooks.slack.com.evil.com/", "hooks.slack.com")
    assert not allowed("https://slack.com/", "hooks.slack.com")


def test_a_wildcard_matches_subdomains_not_the_suffix_itself() -> None:
    assert allowed("http://prometheus.monitoring.svc:9090", "*.svc")
    assert allowed("http://a.b.svc.cluster.local/", "*.svc.cluster.local")
    assert not allowed("http://svc/", "*.svc")
    assert not allowed("http://evilsvc/", "*.svc")
    assert not allowed("http://x.svc.evil.com/", "*.svc")
    assert allowed("http://X.SVC/", "*.Svc")


def test_userinfo_cannot_smuggle_an_allowed_host() -> None:
    assert not allowed("http://allowed.svc@evil.com/", "*.svc")
    assert not allowed("http://allowed.svc:80@evil.com/", "*.svc")
    assert not allowed("http://user:pw@evil.com/#@allowed.svc", "*.svc")
    assert allowed("http://user:pw@prometheus.monitoring.svc:9090/", "*.svc")
    assert not allowed("http://evil.com\\@allowed.svc/", "*.svc")
    assert not allowed("http://evil.com?@allowed.svc/", "*.svc")


def test_networks_match_address_literals_only() -> None:
    assert allowed("http://10.1.2.3:8080/", "10.0.0.0/8")
    assert not allowed("http://11.0.0.1/", "10.0.0.0/8")
    assert not allowed("http://10.example.com/", "10.0.0.0/8")  # names are not resolved
    assert not allowed("http://2130706433/", "127.0.0.0/8")  # a disguised address is refused
    assert allowed("http://10.1.2.3/", "10.1.2.3")
    assert not allowed("http://10.1.2.4/", "10.1.2.3")
    assert not allowed("http://10.1.2.3/", "*.svc")


def test_ipv6_addresses_and_networks() -> None:
    assert allowed("http://[fd00::1]:9090/", "fd00::/8")
    assert allowed("http://[FD00:0::1]/", "[fd00::1]")
    assert allowed("http://[::1]:8080/", "[::1]:8080")
    assert not allowed("http://[::1]:8081/", "[::1]:8080")
    assert not allowed("http://[fe80::1]/", "fd00::/8")
    assert not allowed("http://[::ffff:10.0.0.1]/", "10.0.0.0/8")  # a mapped address is IPv6


def test_a_port_restricts_the_pattern() -> None:
    assert allowed("http://p.monitoring.svc:9090/", "*.svc:9090")
    assert not allowed("http://p.monitoring.svc:9091/", "*.svc:9090")
    assert not allowed("http://p.monitoring.svc/", "*.svc:9090")
    assert allowed("https://hooks.slack.com/x", "hooks.slack.com:443")
    assert allowed("http://hooks.slack.com:443/x", "hooks.slack.com:443")
    assert not allowed("http://hooks.slack.com/x", "hooks.slack.com:443")
    assert allowed("http://10.0.0.1:80/", "10.0.0.0/8:80")


def test_a_star_allows_every_host_and_several_patterns_combine() -> None:
    assert allowed("http://anything/", "*")
    assert allowed("http://b.example/", "a.example", "b.example")
    assert not allowed("http://c.example/", "a.example", "b.example")


def test_the_refusal_names_the_field_and_the_shown_host() -> None:
    reason = refusal(
        "https://user:SECRET@evil.example.com:8443/T/SECRET?token=SECRET",
        parse_patterns("*.svc, hooks.slack.com"),
        field="spec.prometheus.url",
    )
    assert reason == (
        "spec.prometheus.url: https://evil.example.com:8443 is not in the operator's egress allowlist "
        "(*.svc, hooks.slack.com); add its host to the chart value operator.egressAllow"
    )


@pytest.mark.parametrize("bad", ["*.", "a b", "http://x", "10.0.0.0/33", "10.0.0.1/8", "x:0", "x:port",
                                 "[::1", "*x.svc", "a..b", "10.1"])  # fmt: skip
def test_a_bad_pattern_is_an_error_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match="egress allowlist pattern"):
        parse_patterns([bad])


def test_patterns_from_a_comma_separated_text() -> None:
    patterns = parse_patterns(" *.svc , ,hooks.slack.com,10.0.0.0/8 ")
    assert [p.text for p in patterns] == ["*.svc", "hooks.slack.com", "10.0.0.0/8"]
