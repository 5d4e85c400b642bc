//! Dictionaries in the AFL++/libFuzzer format: one token per line, `name="value"` or
//! `"value"`, with `\\`, `\"` and `\xNN` escapes; `#` starts a comment; an optional `@N` level
//! suffix on the name is accepted and ignored. Also writes tokens back in the same format.

/// Parses a dictionary; the error names the line and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut tokens = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(open) = line.find('"') else {
            return Err(format!("line {}: expected a quoted token, found `{line}`", n + 1));
        };
        let name = line[..open].trim();
        if !name.is_empty() && !name.ends_with('=') {
            return Err(format!("line {}: expected `name=\"value\"`, found `{line}`", n + 1));
        }
        let body = &line[open + 1..];
        let Some(close) = body.rfind('"') else {
            return Err(format!("line {}: the token has no closing quote", n + 1));
        };
        if !body[close + 1..].trim().is_empty() {
            return Err(format!("line {}: unexpected text after the token", n + 1));
        }
        let token = unescape(&body[..close]).map_err(|e| format!("line {}: {e}", n + 1))?;
        if token.is_empty() {
            return Err(format!("line {}: empty token", n + 1));
        }
        tokens.push(token);
    }
    Ok(tokens)
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                match b.get(i + 1) {
                    Some(b'\\') => out.push(b'\\'),
                    Some(b'"') => out.push(b'"'),
                    Some(b'x') => {
                        let hex = s.get(i + 2..i + 4).ok_or("truncated \\x escape")?;
                        out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape \\x{hex}"))?);
                        i += 2;
                    }
                    _ => return Err("unknown escape (use \\\\, \\\" or \\xNN)".into()),
                }
                i += 2;
            }
            b'"' => return Err("unescaped quote inside the token".into()),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// One dictionary line for `token`.
pub fn format_token(name: &str, token: &[u8]) -> String {
    let mut s = format!("{name}=\"");
    for &c in token {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// Lower-case hex, for carrying tokens in JSON.
pub fn to_hex(token: &[u8]) -> String {
    token.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inverse of [`to_hex`].
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_escapes_and_comments() {
        let text = "# comment\nkw1=\"GET\"\n\"\\x00\\xffA\"\n  header_x@2=\"a\\\"b\\\\c\"  \n\n";
        let t = parse(text).unwrap();
        assert_eq!(t, vec![b"GET".to_vec(), vec![0, 0xff, b'A'], b"a\"b\\c".to_vec()]);
    }

    #[test]
    fn errors_name_the_line() {
        assert!(parse("ok=\"a\"\nbroken").unwrap_err().starts_with("line 2"));
        assert!(parse("\"\\x4\"").unwrap_err().contains("line 1"));
        assert!(parse("x=\"abc").unwrap_err().contains("closing quote"));
        assert!(parse("\"\"").unwrap_err().contains("empty"));
    }

    #[test]
    fn formatted_tokens_parse_back() {
        let tokens: Vec<Vec<u8>> = vec![b"plain".to_vec(), vec![0, 1, 0x22, 0x5c, 0xff], b"sp ace".to_vec()];
        let text: String = tokens.iter().enumerate().map(|(i, t)| format_token(&format!("t{i}"), t) + "\n").collect();
        assert_eq!(parse(&text).unwrap(), tokens);
        for t in &tokens {
            assert_eq!(from_hex(&to_hex(t)).unwrap(), *t);
        }
    }
}
