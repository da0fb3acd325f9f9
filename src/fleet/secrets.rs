//! Keeps GitLab tokens out of the function's messages.
//!
//! The function never copies a token into a composed resource: Releases read
//! runner tokens from Secrets by name. But a message that quotes the XR, such
//! as the error for a value of the wrong type, would quote a token that a
//! user pasted into the wrong field. That message reaches the XR's events,
//! the function's logs and `crossplane render` output, so every error
//! message is redacted before it leaves the domain.

/// Prefixes of GitLab tokens: runner authentication tokens (`glrt-`, and
/// `glrtr-` for runners created with a registration token), personal, group
/// and project access tokens (`glpat-`) and runner registration tokens
/// (`GR1348941`).
// NOTE: this lists the token kinds a runner fleet deals with, not every
// prefix GitLab has; a token without a known prefix is not recognised.
const TOKEN_PREFIXES: [&str; 4] = ["glrtr-", "glrt-", "glpat-", "GR1348941"];

/// Replacement for the secret part of a redacted token.
const REDACTED: &str = "[REDACTED]";

/// Returns `text` with the secret part of every GitLab token replaced by
/// `[REDACTED]`, keeping the prefix so the reader still sees which kind of
/// token was there. A prefix followed by no token character, as in
/// `(glrt-...)`, is left alone.
pub fn redact_tokens(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;

    while let Some((start, prefix)) = next_prefix(rest) {
        let after_prefix = &rest[start + prefix.len()..];
        let secret_length = token_length(after_prefix);

        redacted.push_str(&rest[..start + prefix.len()]);
        if secret_length > 0 {
            redacted.push_str(REDACTED);
        }
        rest = &after_prefix[secret_length..];
    }

    redacted.push_str(rest);
    redacted
}

/// Finds the first token prefix in `text`; at one position, the longest
/// prefix wins, so `glrtr-` is not read as `glrt` followed by `r-`.
fn next_prefix(text: &str) -> Option<(usize, &'static str)> {
    TOKEN_PREFIXES
        .iter()
        .filter_map(|prefix| text.find(prefix).map(|start| (start, *prefix)))
        .min_by_key(|(start, prefix)| (*start, std::cmp::Reverse(prefix.len())))
}

/// Measures the token characters at the start of `text`, in bytes: ASCII
/// letters, digits, '-' and '_', and '.' where a letter or digit follows it,
/// as in the dotted suffix of newer tokens. So the `...` that stands for an
/// elided token is no token.
fn token_length(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut length = 0;

    while let Some(&byte) = bytes.get(length) {
        let part_of_token = match byte {
            b'.' => bytes.get(length + 1).is_some_and(u8::is_ascii_alphanumeric),
            _ => byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_',
        };
        if !part_of_token {
            break;
        }
        length += 1;
    }

    length
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_tokens_cases() {
        let cases = [
            (
                "no token",
                "spec.gitlabUrl: missing",
                "spec.gitlabUrl: missing",
            ),
            (
                "a runner authentication token quoted by a type error",
                "spec.registration.groupId: invalid type: string \"glrt-t3_Ab12-cd.34\", expected i64",
                "spec.registration.groupId: invalid type: string \"glrt-[REDACTED]\", expected i64",
            ),
            (
                "a token created with a registration token",
                "x glrtr-abc y",
                "x glrtr-[REDACTED] y",
            ),
            (
                "every token in the text",
                "glpat-one and glrt-two",
                "glpat-[REDACTED] and glrt-[REDACTED]",
            ),
            (
                "a registration token",
                "token GR1348941xYz123",
                "token GR1348941[REDACTED]",
            ),
            (
                "the token kind named in advice stays readable",
                "a runner authentication token (glrt-...): never put it in values",
                "a runner authentication token (glrt-...): never put it in values",
            ),
            (
                "a prefix at the very end",
                "ends with glrt-",
                "ends with glrt-",
            ),
            (
                "a dotted suffix belongs to the token, a full stop after it does not",
                "token glpat-abc.01.0w1xyz. Next sentence",
                "token glpat-[REDACTED]. Next sentence",
            ),
            (
                "text around tokens is kept, non-ASCII included",
                "é glrt-x ü",
                "é glrt-[REDACTED] ü",
            ),
        ];

        for (reason, text, want) in cases {
            assert_eq!(redact_tokens(text), want, "{reason}");
        }
    }
}
