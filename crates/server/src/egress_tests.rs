//! Table-driven tests of the egress rules.

use super::*;

/// (address, expected range, or None when public).
const TABLE: &[(&str, Option<Range>)] = &[
    // IPv4 public
    ("93.184.215.14", None),
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("100.63.255.255", None), // just below CGNAT
    ("100.128.0.0", None),    // just above CGNAT
    ("172.15.255.255", None), // just below 172.16/12
    ("172.32.0.0", None),     // just above
    ("192.0.1.1", None),
    ("198.17.255.255", None),
    ("198.20.0.0", None),
    ("223.255.255.255", None),
    // IPv4 refused
    ("0.0.0.0", Some(Range::Unspecified)),
    ("0.1.2.3", Some(Range::Unspecified)),
    ("127.0.0.1", Some(Range::Loopback)),
    ("127.255.255.254", Some(Range::Loopback)),
    ("10.0.0.1", Some(Range::Private)),
    ("172.16.0.1", Some(Range::Private)),
    ("172.31.255.255", Some(Range::Private)),
    ("192.168.1.1", Some(Range::Private)),
    ("100.64.0.1", Some(Range::SharedCgnat)),
    ("100.127.255.255", Some(Range::SharedCgnat)),
    ("169.254.169.254", Some(Range::LinkLocal)),
    ("192.0.0.8", Some(Range::SpecialPurpose)),
    ("192.0.2.10", Some(Range::Documentation)),
    ("198.51.100.7", Some(Range::Documentation)),
    ("203.0.113.9", Some(Range::Documentation)),
    ("198.18.0.1", Some(Range::Benchmarking)),
    ("198.19.255.255", Some(Range::Benchmarking)),
    ("192.88.99.1", Some(Range::SpecialPurpose)),
    ("224.0.0.1", Some(Range::Multicast)),
    ("239.255.255.250", Some(Range::Multicast)),
    ("240.0.0.1", Some(Range::Reserved)),
    ("255.255.255.255", Some(Range::Reserved)),
    // IPv6 public
    ("2606:4700:4700::1111", None),
    ("2a00:1450:4001:82a::200e", None),
    ("::ffff:8.8.8.8", None),       // mapped public IPv4
    ("64:ff9b::808:808", None),     // NAT64 of 8.8.8.8 (DNS64 networks)
    ("2001:4860:4860::8888", None), // outside 2001::/23
    // IPv6 refused
    ("::", Some(Range::Unspecified)),
    ("::1", Some(Range::Loopback)),
    ("fe80::1", Some(Range::LinkLocal)),
    ("febf::1", Some(Range::LinkLocal)),
    ("fec0::1", Some(Range::SiteLocal)),
    ("fc00::1", Some(Range::UniqueLocal)),
    ("fd12:3456::1", Some(Range::UniqueLocal)),
    ("ff02::1", Some(Range::Multicast)),
    ("ff0e::1", Some(Range::Multicast)),
    ("2001:db8::1", Some(Range::Documentation)),
    ("3fff::1", Some(Range::Documentation)),
    ("2001:2::1", Some(Range::Benchmarking)),
    ("2001:10::1", Some(Range::SpecialPurpose)), // ORCHID
    ("100::1", Some(Range::SpecialPurpose)),     // discard
    ("2620:4f:8000::1", Some(Range::SpecialPurpose)),
    ("5f00::1", Some(Range::SpecialPurpose)),
    ("4000::1", Some(Range::Reserved)), // outside 2000::/3
    ("::ffff:0:1", Some(Range::Unspecified)),
    // IPv4-mapped forms take the range of the IPv4 address
    ("::ffff:127.0.0.1", Some(Range::Loopback)),
    ("::ffff:10.1.2.3", Some(Range::Private)),
    ("::ffff:169.254.169.254", Some(Range::LinkLocal)),
    ("::ffff:100.64.0.1", Some(Range::SharedCgnat)),
    ("::ffff:0.0.0.0", Some(Range::Unspecified)),
    ("::ffff:224.0.0.1", Some(Range::Multicast)),
    // NAT64 well-known prefix: judged by the IPv4 address
    ("64:ff9b::7f00:1", Some(Range::Loopback)),
    ("64:ff9b::a9fe:a9fe", Some(Range::LinkLocal)),
    ("64:ff9b::c0a8:101", Some(Range::Private)),
    // Transition forms: refused whatever they carry
    ("::127.0.0.1", Some(Range::Transition)), // IPv4-compatible
    ("::8.8.8.8", Some(Range::Transition)),
    ("2002:7f00:1::1", Some(Range::Transition)),  // 6to4 of 127.0.0.1
    ("2002:808:808::1", Some(Range::Transition)), // 6to4 of 8.8.8.8
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some(Range::Transition)), // Teredo
    ("64:ff9b:1::a00:1", Some(Range::Transition)), // local-use NAT64
];

#[test]
fn every_address_in_the_table_is_classified_as_documented() {
    for (text, expected) in TABLE {
        let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text} is an address: {e}"));
        let got = classify(ip).err().map(|r| r.range);
        assert_eq!(got, *expected, "{text} must be {expected:?}: the range table says so");
    }
}

#[test]
fn refusals_of_embedded_forms_name_the_ipv4_address() {
    let r = classify("::ffff:127.0.0.1".parse().unwrap()).unwrap_err();
    assert_eq!(r.to_string(), "loopback, IPv4-mapped 127.0.0.1", "the message shows what was judged");
    let r = classify("2002:a00:1::1".parse().unwrap()).unwrap_err();
    assert_eq!(r.to_string(), "IPv6 transition/tunnel, 6to4 10.0.0.1", "6to4 shows its IPv4 address");
    let r = classify("::10.0.0.1".parse().unwrap()).unwrap_err();
    assert_eq!(r.embedded, Some((Embedding::Compatible, Ipv4Addr::new(10, 0, 0, 1))), "IPv4-compatible form");
}

#[test]
fn allow_list_entries_are_host_or_host_and_port() {
    let list = AllowList::parse("127.0.0.1, localhost:8080, [::1]:9000, ::1, Hooks.Internal., x_y").unwrap();
    let cases: &[(&str, Option<u16>, bool)] = &[
        ("127.0.0.1", Some(1), true),
        ("127.0.0.1", Some(443), true),
        ("127.0.0.2", Some(443), false),
        ("localhost", Some(8080), true),
        ("localhost", Some(8081), false),
        ("LOCALHOST.", Some(8080), true),
        ("[::1]", Some(9000), true),
        ("[::1]", Some(1), true), // the bare `::1` entry allows any port
        ("hooks.internal", Some(443), true),
        ("evil.internal", Some(443), false),
        ("x_y", Some(80), true),
    ];
    for (host, port, allowed) in cases {
        assert_eq!(list.allows(host, *port), *allowed, "{host}:{port:?} allowed must be {allowed}");
    }
    let only_port = AllowList::parse("[::1]:9000").unwrap();
    assert!(!only_port.allows("[::1]", Some(9001)), "a host:port entry allows only that port");
    assert!(AllowList::parse("").unwrap().is_empty(), "empty means https to public addresses only");
}

#[test]
fn malformed_allow_list_entries_are_refused_by_name() {
    for bad in ["host:port", "a b", "[::1", "[::1]x", "[127.0.0.1]:80", "h:99999", ":80", "http://x"] {
        let err = AllowList::parse(&format!("ok, {bad}")).unwrap_err();
        assert!(err.contains(bad), "the error must name the bad entry {bad:?}: {err}");
    }
}

#[test]
fn urls_are_judged_by_literal_and_by_name() {
    let allow = AllowList::parse("127.0.0.1:8080").unwrap();
    let cases: &[(&str, &str)] = &[
        ("https://127.0.0.1:8080/h", "allowed"),
        ("http://127.0.0.1:8080/h", "allowed"),
        ("https://127.0.0.1:8081/h", "refused"),
        ("https://[::1]:8080/h", "refused"),
        ("https://[::ffff:127.0.0.1]/h", "refused"),
        ("https://[::ffff:7f00:1]/h", "refused"),
        ("https://0x7f000001/h", "refused"), // the URL parser turns this into 127.0.0.1
        ("https://2130706433/h", "refused"),
        ("https://0177.0.0.1/h", "refused"),
        ("https://169.254.169.254/latest/meta-data", "refused"),
        // Names are checked when connecting (registration refuses localhost names up front).
        ("https://localhost/h", "checked"),
        ("https://hooks.localhost/h", "checked"),
        ("https://8.8.8.8/h", "checked"),
        ("https://hooks.example.com/h", "checked"),
        ("https://localhost.example.com/h", "checked"),
    ];
    for (raw, expected) in cases {
        let url = url::Url::parse(raw).unwrap();
        let got = match judge(&url, &allow) {
            Target::Allowed => "allowed",
            Target::Checked => "checked",
            Target::Refused(_) => "refused",
        };
        assert_eq!(got, *expected, "{raw} must be {expected}");
    }
    let url = url::Url::parse("https://[::ffff:127.0.0.1]:9/").unwrap();
    assert_eq!(
        judge(&url, &AllowList::default()),
        Target::Refused("::ffff:127.0.0.1 is not a public address (loopback, IPv4-mapped 127.0.0.1)".into()),
        "the reason names the address and its range"
    );
}
