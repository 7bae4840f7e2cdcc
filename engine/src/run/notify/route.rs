//! Where an event goes: the channels an event's list names (with their per-event options), and
//! a human state's own `notification:` laid over the review event's list. Pure: no sending, no
//! environment but the lookup it is handed.

use indexmap::IndexMap;

use super::{Kind, Target};
use crate::workflow::model::{ChannelRef, Notification};

/// Where one event goes: a channel and what this event changes of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Route {
    /// The channel's name (or `<step>.webhook` for a human state's own webhook).
    pub(super) channel: String,
    /// Put before the text (`@here`).
    pub(super) mention: Option<String>,
    /// Slack: the channel to post to instead of the channel's own.
    pub(super) slack_channel: Option<String>,
    /// Email: the recipients instead of the channel's own.
    pub(super) to: Option<Vec<String>>,
}

/// The routes an event's list names.
pub(super) fn event_routes(refs: &[ChannelRef]) -> Vec<Route> {
    let mut routes = Vec::new();
    for channel_ref in refs {
        match channel_ref {
            ChannelRef::Name(name) => routes.push(Route { channel: name.clone(), ..Route::default() }),
            ChannelRef::WithOptions(map) => {
                for (name, options) in map {
                    routes.push(Route {
                        channel: name.clone(),
                        mention: options.mention.clone(),
                        ..Route::default()
                    });
                }
            }
        }
    }
    routes
}

/// A human state's `notification:` on top of the review event's routes: `slack` posts to that
/// Slack channel through every `slack` channel, `email` writes to those addresses through every
/// `email` channel, `webhook` is a channel of its own, `mention` goes before the text. A channel
/// the event already routes is sent to once, with the state's settings.
pub(super) fn review_notification(
    step: &str,
    notification: &Notification,
    routes: &mut Vec<Route>,
    targets: &mut IndexMap<String, Target>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let mut wanted: Vec<(Kind, &str)> = Vec::new();
    if notification.slack.is_some() {
        wanted.push((Kind::Slack, "slack"));
    }
    if !notification.email.is_empty() {
        wanted.push((Kind::Email, "email"));
    }
    let mut missing = Vec::new();
    for (kind, key) in wanted {
        let names: Vec<String> =
            targets.iter().filter(|(_, t)| t.kind == kind).map(|(n, _)| n.clone()).collect();
        if names.is_empty() {
            missing.push(key);
        }
        for name in names {
            let at = match routes.iter().position(|r| r.channel == name) {
                Some(at) => at,
                None => {
                    routes.push(Route { channel: name, ..Route::default() });
                    routes.len() - 1
                }
            };
            let route = &mut routes[at];
            match kind {
                Kind::Slack => route.slack_channel.clone_from(&notification.slack),
                Kind::Email => route.to = Some(notification.email.as_slice().to_vec()),
                Kind::Webhook => {}
            }
        }
    }
    if let Some(url) = &notification.webhook {
        let name = format!("{step}.webhook");
        let url = url.resolve(env).map_err(|e| format!("the `notification.webhook` of `{step}`: {e}"))?;
        targets.insert(
            name.clone(),
            Target {
                kind: Kind::Webhook,
                url,
                slack_channel: None,
                headers: Vec::new(),
                secret: None,
                email: None,
            },
        );
        if !routes.iter().any(|r| r.channel == name) {
            routes.push(Route { channel: name, ..Route::default() });
        }
    }
    if notification.mention.is_some() {
        for route in routes.iter_mut() {
            route.mention.clone_from(&notification.mention);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        let keys: Vec<String> = missing.iter().map(|k| format!("`{k}`")).collect();
        Err(format!(
            "the `notification` of `{step}` names {} but `notifications.channels` has no channel of that type: add one (`type: {}`) to reach the reviewer",
            keys.join(" and "),
            missing[0]
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: Kind) -> Target {
        Target {
            kind,
            url: "http://x".into(),
            slack_channel: None,
            headers: Vec::new(),
            secret: None,
            email: None,
        }
    }

    #[test]
    fn a_human_states_notification_overrides_the_review_routes_of_its_kind() {
        let mut targets: IndexMap<String, Target> =
            [("chat".to_owned(), target(Kind::Slack)), ("mail".to_owned(), target(Kind::Email))]
                .into_iter()
                .collect();
        let mut routes =
            vec![Route { channel: "chat".into(), mention: Some("@here".into()), ..Route::default() }];
        let notification = Notification {
            slack: Some("#reviews".into()),
            email: crate::workflow::model::OneOrMany::Many(vec!["lead@example.com".into()]),
            mention: Some("@ana".into()),
            webhook: None,
        };
        review_notification("review", &notification, &mut routes, &mut targets, &|_| None).unwrap();
        assert_eq!(
            routes,
            vec![
                Route {
                    channel: "chat".into(),
                    mention: Some("@ana".into()),
                    slack_channel: Some("#reviews".into()),
                    to: None
                },
                Route {
                    channel: "mail".into(),
                    mention: Some("@ana".into()),
                    slack_channel: None,
                    to: Some(vec!["lead@example.com".into()])
                },
            ]
        );
        // Without an email channel, the state's `email` is a problem to show.
        targets.shift_remove("mail");
        let err = review_notification("review", &notification, &mut Vec::new(), &mut targets, &|_| None)
            .unwrap_err();
        assert!(err.contains("`email`") && err.contains("`review`"), "{err}");
    }
}
