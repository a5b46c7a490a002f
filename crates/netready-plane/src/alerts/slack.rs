//! A notification as a Slack incoming webhook message. Every value in it that a runner or a user
//! chose — runner and channel names, hosts, services, what an endpoint reported — could carry
//! Slack's control sequences (`<!channel>`, `<https://evil.example|click>`), so they never reach
//! Slack as markup: in the blocks they are `plain_text` (shown as typed, no mentions, no links,
//! no emoji codes), and in the `text` fallback (what a phone notification shows, read as mrkdwn)
//! they are escaped by Slack's rules (`&`, `<`, `>`). Only netready's own words are mrkdwn.

use serde_json::{Value, json};

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

/// The message for a notification (`event`: the webhook body) or a test notification.
pub fn body(event: &Value) -> Value {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    if event["grouped"] == true {
        return group_body(event);
    }
    if event["kind"] == "test" {
        let channel = s(&event["channel"]["name"]);
        return json!({
            "text": format!(":wave: netready: a test notification to channel {}: alerts reach this channel", escape(&channel)),
            "blocks": [
                { "type": "section", "text": mrkdwn(":wave: *netready: a test notification*: alerts reach this channel") },
                { "type": "section", "text": plain(format!("Channel: {channel}")) },
            ],
        });
    }
    let (name, id, since) = (s(&event["runner"]["name"]), s(&event["runner"]["id"]), s(&event["since"]));
    let (emoji, headline) = match event["kind"].as_str() {
        Some("recovered") => (":white_check_mark:", "is ready again"),
        Some("stale") => (":grey_question:", "stopped reporting"),
        Some("never_reported") => (":red_circle:", "never reported: its task most likely never started"),
        _ => (":red_circle:", "is degraded"),
    };
    let endpoints: Vec<String> = event["degraded_endpoints"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| format!("{} {} ({})", s(&e["service"]), s(&e["reachability"]), s(&e["access_type"])))
                .collect()
        })
        .unwrap_or_default();
    let mut text =
        format!("{emoji} netready: runner {} ({}) {headline} (since {})", escape(&name), escape(&id), escape(&since));
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

fn headline(kind: Option<&str>) -> (&'static str, &'static str) {
    match kind {
        Some("recovered") => (":white_check_mark:", "ready again"),
        Some("stale") => (":grey_question:", "stale: they stopped reporting"),
        Some("never_reported") => (":red_circle:", "never reported: their tasks most likely never started"),
        _ => (":red_circle:", "degraded"),
    }
}

/// A grouped notification: how many runners, the cause they share, their names.
fn group_body(event: &Value) -> Value {
    let (emoji, what) = headline(event["kind"].as_str());
    let count = event["count"].as_u64().unwrap_or(0);
    let cause = event["cause"].as_object().map(|c| {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
        format!(
            "{} {} ({}), on {} of {count}",
            s("service"),
            s("reachability"),
            s("access_type"),
            c.get("runners").and_then(Value::as_u64).unwrap_or(0)
        )
    });
    let names: Vec<&str> =
        event["runners"].as_array().into_iter().flatten().map(|r| r["name"].as_str().unwrap_or("?")).collect();
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

    const EVIL: &str = "team/<!channel> & <https://evil.example|click> <@U123> <#C1>";

    #[test]
    fn escaping_follows_slacks_rule() {
        assert_eq!(escape("a & <b> c"), "a &amp; &lt;b&gt; c");
        assert_eq!(escape("&amp;"), "&amp;amp;", "an entity typed by a user stays text");
        assert_eq!(escape("line\nbreak"), "line break");
        assert_eq!(escape("eu-west-3/build :fire: *bold*"), "eu-west-3/build :fire: *bold*");
    }

    #[test]
    fn runner_values_never_become_mentions_or_links() {
        let event = json!({
            "id": "ntf-1", "kind": "degraded",
            "runner": { "id": "rn-0123456789ab", "name": EVIL },
            "since": "2026-12-03T10:00:00.000Z",
            "degraded_endpoints": [{ "service": "<!here>", "reachability": "none", "access_type": "<http://x|y>" }],
        });
        let message = body(&event);
        for text in mrkdwn_texts(&message) {
            assert!(!text.contains('<') && !text.contains('>'), "markup in mrkdwn: {text}");
        }
        let text = message["text"].as_str().unwrap();
        assert!(text.contains("team/&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"), "{text}");
        assert!(text.contains("&lt;!here&gt; none (&lt;http://x|y&gt;)"), "{text}");
        let fields = &message["blocks"][1]["fields"];
        assert_eq!(fields[0], json!({"type": "plain_text", "text": format!("Runner: {EVIL}"), "emoji": false}));
        assert_eq!(message["blocks"][2]["text"]["type"], "plain_text");

        let test = body(&json!({"kind": "test", "channel": {"id": "ch-1", "name": "<!everyone>"}}));
        for text in mrkdwn_texts(&test) {
            assert!(!text.contains('<'), "{text}");
        }
        assert_eq!(test["blocks"][1]["text"]["text"], "Channel: <!everyone>");
    }

    #[test]
    fn a_grouped_message_names_the_cause_and_the_runners_as_text() {
        let members: Vec<Value> = (0..3)
            .map(|i| {
                json!({"runner": {"id": format!("rn-{i}"), "name": format!("{EVIL}-{i}")},
                "degraded_endpoints": [{"service": "logs", "reachability": "none", "access_type": "vpc_endpoint"}]})
            })
            .collect();
        let event = crate::alerts::group::group_event("grp-1", "degraded", members, 0);
        let message = body(&event);
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
            .map(|i| json!({"service": format!("service-{i}"), "reachability": "none", "access_type": "nat"}))
            .collect();
        let event = json!({"kind": "stale", "runner": {"id": "rn-1", "name": "r"}, "since": "t", "degraded_endpoints": endpoints});
        let message = body(&event);
        let list = message["blocks"][2]["text"]["text"].as_str().unwrap();
        assert!(list.chars().count() <= MAX_TEXT && list.ends_with('…'), "{}", list.len());
        assert!(
            message["text"]
                .as_str()
                .unwrap()
                .starts_with(":grey_question: netready: runner r (rn-1) stopped reporting")
        );
    }
}
