//! The webhook: a Slack-compatible JSON POST (`{"text": ...}`, with orc's
//! own fields under `"orc"`), with a timeout and retries.
//!
//! The HTTP client is `ureq`: blocking (delivery runs on a thread of its
//! own, so no async runtime is needed), small, with rustls for HTTPS and
//! no system OpenSSL to link against.

use std::time::Duration;

use serde_json::json;

use crate::error::{Error, Result};

use super::Alert;

/// Attempts per delivery.
const ATTEMPTS: u32 = 3;
/// How long one attempt may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Refuse a webhook address that is not http(s).
pub fn check_url(url: &str) -> Result<()> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(());
    }
    Err(Error::usage(
        "ORC_NOTIFY_WEBHOOK is not an http(s) address",
        url.to_string(),
    )
    .hint("set it to the webhook's URL, e.g. https://hooks.slack.com/services/..."))
}

/// The JSON body for `alert`.
pub fn body(alert: &Alert, session: &str) -> String {
    json!({
        "text": alert.text(session),
        "orc": {
            "issue": alert.issue,
            "subject": alert.subject,
            "reason": alert.reason,
            "detail": alert.detail,
            "session": session,
        }
    })
    .to_string()
}

/// POST `body` to `url`: up to [`ATTEMPTS`] tries, 1 s then 2 s apart, each
/// within [`TIMEOUT`]. A 4xx answer is final (retrying will not help).
pub fn post(url: &str, body: &str) -> std::result::Result<(), String> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match agent
            .post(url)
            .content_type("application/json")
            .send(body.as_bytes())
        {
            Ok(_) => return Ok(()),
            Err(ureq::Error::StatusCode(code)) if (400..500).contains(&code) => {
                return Err(format!("the webhook answered {code}"));
            }
            Err(e) => last = e.to_string(),
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(Duration::from_secs(u64::from(attempt)));
        }
    }
    Err(format!("{ATTEMPTS} attempts failed; the last: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Issue;

    #[test]
    fn the_body_is_slack_compatible() {
        let alert = Alert {
            issue: Some(Issue::from(7)),
            subject: String::new(),
            reason: "gave-up".into(),
            detail: "failed 3 times".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&body(&alert, "s1")).unwrap_or_default();
        assert_eq!(v["text"], "orc: #7 gave-up: failed 3 times (session s1)");
        assert_eq!(v["orc"]["issue"], 7);
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://127.0.0.1:9/x").is_ok());
    }
}
