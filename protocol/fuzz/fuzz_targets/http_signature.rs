//! The request-signature headers come from anyone who reaches the API:
//! parsing them, building the signature base and checking a content digest
//! must never panic, whatever the bytes.
#![no_main]
use deltachain_protocol::httpsig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Split the input into the two headers and a body.
    let mut parts = text.splitn(3, '\n');
    let input = parts.next().unwrap_or("");
    let sig = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    let _ = httpsig::check_content_digest(input, body.as_bytes());
    if let Ok(parsed) = httpsig::parse(input, sig) {
        let header = |name: &str| (name.len() % 2 == 0).then(|| body.to_string());
        let req = httpsig::Request {
            method: "GET",
            authority: "127.0.0.1:7070",
            path: "/v1/members",
            query: Some(body),
            header: &header,
        };
        let _ = parsed.params.base(&req);
        let _ = parsed.verify(&req, 1_800_000_000, &["content-digest"]);
        let _ = parsed.tag();
        // The canonical serialisation parses back to the same parameters.
        let again = format!("{}={}", parsed.label, parsed.params.serialize());
        let reparsed = httpsig::parse(&again, sig).expect("our own serialisation parses");
        assert_eq!(reparsed.params, parsed.params);
    }
});
