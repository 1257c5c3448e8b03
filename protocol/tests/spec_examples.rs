//! The worked examples in `protocol/README.md` are checked here: every
//! ```json block followed by a ```hex block must decode as a message and
//! encode (MessagePack) to exactly those bytes.

use plaza_protocol::{decode, encode, ClientMsg, Format, ServerMsg};

fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    let mut last_json: Option<String> = None;
    while let Some(line) = lines.next() {
        let tag = line.trim();
        if tag == "```json" || tag == "```hex" {
            let mut body = String::new();
            for inner in lines.by_ref() {
                if inner.trim() == "```" {
                    break;
                }
                body.push_str(inner);
                body.push('\n');
            }
            if tag == "```json" {
                last_json = Some(body);
            } else if let Some(json) = last_json.take() {
                out.push((json, body));
            }
        } else if !tag.is_empty() && !tag.starts_with("```") {
            // prose between blocks keeps the pairing (json, then hex)
        }
    }
    out
}

fn hex_of(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn readme_examples_match_the_encoder() {
    let text = include_str!("../README.md");
    let pairs = blocks(text);
    assert!(
        pairs.len() >= 20,
        "expected the README's worked examples, found {}",
        pairs.len()
    );
    let mut failures = Vec::new();
    for (json, hex) in pairs {
        let want: String = hex.split_whitespace().collect::<Vec<_>>().join(" ");
        let got = if let Ok(m) = decode::<ClientMsg>(json.trim().as_bytes(), Format::Json) {
            hex_of(&encode(&m, Format::MsgPack).expect("encode"))
        } else if let Ok(m) = decode::<ServerMsg>(json.trim().as_bytes(), Format::Json) {
            hex_of(&encode(&m, Format::MsgPack).expect("encode"))
        } else {
            failures.push(format!("not a message: {json}"));
            continue;
        };
        if got != want {
            failures.push(format!(
                "{}\n  README: {want}\n  actual: {got}",
                json.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "README examples out of date:\n{}",
        failures.join("\n")
    );
}
