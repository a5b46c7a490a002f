//! A notification as a Slack incoming webhook message. Every value in it that a runner or a user
//! chose — runner and channel names, hosts, services, what an endpoint reported — could carry
//! Slack's control sequences (`<!channel>`, `<https://evil.example|click>`), so they never reach
//! Slack as markup: in the blocks they are `plain_text` (shown as typed, no mentions, no links,
//! no emoji codes), and in the `text` fallback (what a phone notification shows, read as mrkdwn)
//! they are escaped by Slack's rules (`&`, `<`, `>`). Only netready's own words are mrkdwn.

use netready_check::classify::{AccessType, Reachability};
use netready_check::types::ServiceKey;
use serde_json::{Value, json};

use super::event::{Event, GroupEvent, Kind, Notification};

/// The longest text Slack takes in a section's `plain_text` (3,000), with room to spare.
const MAX_TEXT: usize = 2900;

/// Escapes a value for Slack mrkdwn: `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;` (Slack's own
/// rule; other characters are shown as they are).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// At most [`MAX_TEXT`] characters, with an ellipsis when cut.
fn bounded(text: String) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_TEXT - 1).collect();
    cut.push('…');
    cut
}

fn plain(text: String) -> Value {
    json!({ "type": "plain_text", "text": bounded(text), "emoji": false })
}

fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

/// The message for a notification.
pub fn body(notification: &Notification) -> Value {
    match notification {
        Notification::Change(event) => change_body(event),
        Notification::Group(group) => group_body(group),
        Notification::Test(test) => {
            let channel = &test.channel.name;
            json!({
                "text": format!(":wave: netready: a test notification to channel {}: alerts reach this channel", escape(channel)),
                "blocks": [
                    { "type": "section", "text": mrkdwn(":wave: *netready: a test notification*: alerts reach this channel") },
                    { "type": "section", "text": plain(format!("Channel: {channel}")) },
                ],
            })
        }
    }
}

/// "logs none (vpc_endpoint)": an endpoint as a message lists it.
fn endpoint_words(service: ServiceKey, reachability: Reachability, access_type: AccessType) -> String {
    format!("{} {} ({})", service.as_str(), reachability.as_str(), access_type.as_str())
}

/// One runner's change.
fn change_body(event: &Event) -> Value {
    let (name, id, since) = (&event.runner.name, &event.runner.id, &event.since);
    let (emoji, headline) = match event.kind {
        Kind::Recovered => (":white_check_mark:", "is ready again"),
        Kind::Stale => (":grey_question:", "stopped reporting"),
        Kind::NeverReported => (":red_circle:", "never reported: its task most likely never started"),
        Kind::Degraded => (":red_circle:", "is degraded"),
    };
    let endpoints: Vec<String> =
        event.degraded_endpoints.iter().map(|e| endpoint_words(e.service, e.reachability, e.access_type)).collect();
    let mut text =
        format!("{emoji} netready: runner {} ({}) {headline} (since {})", escape(name), escape(id), escape(since));
    let mut blocks = vec![
        json!({ "type": "section", "text": mrkdwn(&format!("{emoji} *netready: a runner {headline}*")) }),
        json!({ "type": "section", "fields": [
            plain(format!("Runner: {name}")),
            plain(format!("Id: {id}")),
            plain(format!("Since: {since}")),
        ] }),
    ];
    if !endpoints.is_empty() {
        let list = endpoints.join(", ");
        text.push_str(&format!(": {}", escape(&list)));
        blocks.push(json!({ "type": "section", "text": plain(format!("Degraded endpoints: {list}")) }));
    }
    json!({ "text": bounded(text), "blocks": blocks })
}

fn headline(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Recovered => (":white_check_mark:", "ready again"),
        Kind::Stale => (":grey_question:", "stale: they stopped reporting"),
        Kind::NeverReported => (":red_circle:", "never reported: their tasks most likely never started"),
        Kind::Degraded => (":red_circle:", "degraded"),
    }
}

/// A grouped notification: how many runners, the cause they share, their names.
fn group_body(group: &GroupEvent) -> Value {
    let (emoji, what) = headline(group.kind);
    let count = group.count;
    let cause = group
        .cause
        .map(|c| format!("{}, on {} of {count}", endpoint_words(c.service, c.reachability, c.access_type), c.runners));
    let names: Vec<&str> = group.runners.iter().map(|r| r.name.as_str()).collect();
    let mut text = format!("{emoji} netready: {count} runners {what}");
    let mut blocks =
        vec![json!({ "type": "section", "text": mrkdwn(&format!("{emoji} *netready: {count} runners {what}*")) })];
    if let Some(cause) = cause {
        text.push_str(&format!(": {}", escape(&cause)));
        blocks.push(json!({ "type": "section", "text": plain(format!("Cause: {cause}")) }));
    }
    text.push_str(&format!(" — {}", escape(&names.join(", "))));
    blocks.push(json!({ "type": "section", "text": plain(format!("Runners: {}", names.join(", "))) }));
    json!({ "text": bounded(text), "blocks": blocks })
}

/// Every piece of a message that Slack reads as mrkdwn: the `text` and the `mrkdwn` objects in
/// the blocks (for tests: none may hold a mention or a link).
pub fn mrkdwn_texts(message: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if o.get("type").and_then(Value::as_str) == Some("mrkdwn")
                    && let Some(t) = o.get("text").and_then(Value::as_str)
                {
                    out.push(t.to_owned());
                }
                o.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out: Vec<String> = message["text"].as_str().map(str::to_owned).into_iter().collect();
    if let Some(blocks) = message.get("blocks") {
        walk(blocks, &mut out);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::alerts::RunnerRef;

    const EVIL: &str = "team/<!channel> & <https://evil.example|click> <@U123> <#C1>";

    #[test]
    fn escaping_follows_slacks_rule() {
        assert_eq!(escape("a & <b> c"), "a &amp; &lt;b&gt; c");
        assert_eq!(escape("&amp;"), "&amp;amp;", "an entity typed by a user stays text");
        assert_eq!(escape("line\nbreak"), "line break");
        assert_eq!(escape("eu-west-3/build :fire: *bold*"), "eu-west-3/build :fire: *bold*");
    }

    fn change(kind: &str, name: &str, endpoints: Value) -> Notification {
        Notification::Change(
            serde_json::from_value(json!({
                "id": "ntf-1", "kind": kind, "runner": { "id": "rn-0123456789ab", "name": name },
                "from": "ready", "to": "degraded", "since": "2026-12-03T10:00:00.000Z", "at": "2026-12-03T10:00:00.000Z",
                "degraded_endpoints": endpoints,
            }))
            .unwrap(),
        )
    }

    fn logs_down() -> Value {
        json!([{ "service": "logs", "host": "<!here>", "reachability": "none", "access_type": "vpc_endpoint" }])
    }

    #[test]
    fn runner_values_never_become_mentions_or_links() {
        let message = body(&change("degraded", EVIL, logs_down()));
        for text in mrkdwn_texts(&message) {
            assert!(!text.contains('<') && !text.contains('>'), "markup in mrkdwn: {text}");
        }
        let text = message["text"].as_str().unwrap();
        assert!(text.contains("team/&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"), "{text}");
        assert!(text.contains("logs none (vpc_endpoint)"), "{text}");
        let fields = &message["blocks"][1]["fields"];
        assert_eq!(fields[0], json!({"type": "plain_text", "text": format!("Runner: {EVIL}"), "emoji": false}));
        assert_eq!(message["blocks"][2]["text"]["type"], "plain_text");

        let test = body(&Notification::Test(crate::alerts::test_event("test-1", "ch-1", "<!everyone>", 0)));
        for text in mrkdwn_texts(&test) {
            assert!(!text.contains('<'), "{text}");
        }
        assert_eq!(test["blocks"][1]["text"]["text"], "Channel: <!everyone>");
    }

    #[test]
    fn a_grouped_message_names_the_cause_and_the_runners_as_text() {
        let members: Vec<Event> = (0..3)
            .map(|i| match change("degraded", &format!("{EVIL}-{i}"), logs_down()) {
                Notification::Change(e) => Event { runner: RunnerRef { id: format!("rn-{i}"), ..e.runner }, ..e },
                _ => unreachable!(),
            })
            .collect();
        let event = crate::alerts::group::group_event("grp-1", Kind::Degraded, members, 0);
        let message = body(&Notification::Group(event));
        for text in mrkdwn_texts(&message) {
            assert!(!text.contains('<') && !text.contains('>'), "markup in mrkdwn: {text}");
        }
        let text = message["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                ":red_circle: netready: 3 runners degraded: logs none (vpc_endpoint), on 3 of 3 — team/&lt;!channel&gt;"
            ),
            "{text}"
        );
        assert_eq!(message["blocks"][1]["text"]["text"], "Cause: logs none (vpc_endpoint), on 3 of 3");
        assert!(message["blocks"][2]["text"]["text"].as_str().unwrap().contains(&format!("{EVIL}-2")));
    }

    #[test]
    fn long_lists_are_cut_within_slacks_limits() {
        let endpoints: Vec<Value> = (0..500)
            .map(|i| {
                let service = ServiceKey::ALL[i % ServiceKey::ALL.len()].as_str();
                json!({"service": service, "host": format!("h{i}"), "reachability": "none", "access_type": "nat_gateway"})
            })
            .collect();
        let message = body(&change("stale", "r", Value::Array(endpoints)));
        let list = message["blocks"][2]["text"]["text"].as_str().unwrap();
        assert!(list.chars().count() <= MAX_TEXT && list.ends_with('…'), "{}", list.len());
        assert!(
            message["text"]
                .as_str()
                .unwrap()
                .starts_with(":grey_question: netready: runner r (rn-0123456789ab) stopped reporting")
        );
    }
}
