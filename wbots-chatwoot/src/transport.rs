//! Telling Chatwoot's own webhook failures from every other `failed` mark.
//!
//! When its one webhook attempt fails, Chatwoot marks the message `failed` and stores the
//! exception's message as `external_error` (`lib/webhooks/trigger.rb:65-75,100-102`); the
//! bridge marks messages failed through the same field. No field records who set it, so the
//! text decides: these are the texts Chatwoot's HTTP stack produces
//! (`chatwoot-signin-and-sweep.md` §5.3: SafeFetch from v4.14.0, RestClient before), and
//! nothing the bridge writes starts like them (its reasons are sentences).

/// Whether `external_error` is one Chatwoot stored because it could not deliver a webhook.
pub(crate) fn is_webhook_failure(external_error: &str) -> bool {
    let e = external_error.trim_start();
    let status_code = e.len() >= 3
        && e.as_bytes()[..3].iter().all(u8::is_ascii_digit)
        && matches!(e.as_bytes().get(3), None | Some(b' '));
    const PREFIXES: [&str; 10] = [
        "Failed to open TCP connection to ",
        "Net::OpenTimeout",
        "Net::ReadTimeout",
        "Could not resolve hostname ",
        "Timed out connecting to server",
        "Timed out reading data from server",
        "Server broke connection",
        "SSL_connect",
        "HTTP status code ",
        "Connection reset by peer",
    ];
    let hostname_private =
        e.starts_with("Hostname '") && e.ends_with("' has no public ip addresses");
    let redirects = e.starts_with("Got ") && e.contains(" redirects fetching ");
    status_code
        || hostname_private
        || redirects
        || e == "end of file reached"
        || PREFIXES.iter().any(|p| e.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatwoots_texts_and_only_those() {
        for text in [
            "503 Service Unavailable",
            "500 ",
            "404",
            "Failed to open TCP connection to 203.0.113.7:443 (Connection refused - connect(2) for \"203.0.113.7\" port 443)",
            "Failed to open TCP connection to 203.0.113.7:443 (execution expired)",
            "Net::OpenTimeout",
            "Net::ReadTimeout with #<TCPSocket:(closed)>",
            "Could not resolve hostname 'svc.example.internal'",
            "Hostname 'svc.example.internal' has no public ip addresses",
            "Got 10 redirects fetching https://svc.example.com/hook",
            "Timed out reading data from server",
            "Server broke connection",
            "end of file reached",
            "Connection reset by peer",
        ] {
            assert!(is_webhook_failure(text), "{text}");
        }
        for text in [
            "the customer last wrote 30 hours ago; the platform allows replies within 24 hours",
            "reconnect required: the page token was revoked",
            "wbots cannot send this: the account messenger:1 is not configured in the bridge any more.",
            "1000 characters is too long",
            "",
        ] {
            assert!(!is_webhook_failure(text), "{text}");
        }
    }
}
