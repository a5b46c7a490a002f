//! Which changes a channel is told of: runners whose name matches a pattern, and some kinds of
//! change — so that a team's channel hears of its own runners, or a pager only of what went
//! stale. Pure: the outbox writer asks [`Route::matches`] for each channel and change.

use super::Kind;

/// The most characters a runner pattern may have (a runner name has at most 200).
const MAX_PATTERN: usize = 200;

/// A channel's route. The default tells it everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// A runner name pattern: `*` stands for any run of characters, everything else for itself.
    pub runners: Option<String>,
    /// The kinds of change, in the order degraded, stale, never_reported, recovered; empty means all.
    pub kinds: Vec<Kind>,
    /// Read back from the database and no longer understood (edited by hand): told of nothing,
    /// and shown so, rather than told of everything or hiding the channel.
    pub unreadable: bool,
}

const ALL_KINDS: [Kind; 4] = Kind::ALL;

/// Whitespace at either end of a pattern: Rust's and JSON Schema's (ECMAScript `\s`) idea of it.
fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// Why a route (a channel's or a silence's runners pattern and kinds) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The runners pattern, escaped for display.
    #[error(
        "invalid runners pattern '{0}': expected 1 to {max} printable characters, no space at either \
         end, '*' for any run of them, such as 'eu-west-3/*'",
        max = MAX_PATTERN
    )]
    Pattern(String),
    #[error("kinds is empty: name at least one of degraded, stale, never_reported, recovered")]
    NoKinds,
    /// The unknown kind, escaped for display.
    #[error("invalid kind '{0}': expected degraded, stale, never_reported or recovered")]
    Kind(String),
    #[error("kind '{}' is given twice", .0.as_str())]
    KindTwice(Kind),
}

impl Route {
    /// A stored route that does not parse.
    pub fn unreadable() -> Route {
        Route { unreadable: true, ..Route::default() }
    }

    /// From a caller's pattern and kinds (`None`: all). The message says what is wrong.
    pub fn parse(runners: Option<&str>, kinds: Option<&[String]>) -> Result<Route, RouteError> {
        let runners = match runners {
            None => None,
            Some(p) => {
                let ends_in_space = p.starts_with(is_space) || p.ends_with(is_space);
                if p.is_empty() || ends_in_space || p.chars().count() > MAX_PATTERN || p.chars().any(char::is_control) {
                    return Err(RouteError::Pattern(p.escape_debug().to_string()));
                }
                (p != "*").then(|| p.to_owned())
            }
        };
        let kinds = match kinds {
            None => Vec::new(),
            Some([]) => {
                return Err(RouteError::NoKinds);
            }
            Some(list) => {
                let mut kinds = Vec::new();
                for k in list {
                    let kind = Kind::parse(k).ok_or_else(|| RouteError::Kind(k.escape_debug().to_string()))?;
                    if kinds.contains(&kind) {
                        return Err(RouteError::KindTwice(kind));
                    }
                    kinds.push(kind);
                }
                kinds.sort_by_key(|k| ALL_KINDS.iter().position(|a| a == k));
                if kinds.len() == ALL_KINDS.len() { Vec::new() } else { kinds }
            }
        };
        Ok(Route { runners, kinds, unreadable: false })
    }

    /// Whether a change of `kind` of the runner named `runner` goes to the channel.
    pub fn matches(&self, runner: &str, kind: Kind) -> bool {
        !self.unreadable
            && (self.kinds.is_empty() || self.kinds.contains(&kind))
            && self.runners.as_deref().is_none_or(|p| glob_matches(p, runner))
    }

    /// The kinds as stored: `None` for all, else a comma-separated list.
    pub fn kinds_column(&self) -> Option<String> {
        (!self.kinds.is_empty()).then(|| self.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","))
    }

    /// From the stored columns.
    pub fn from_columns(runners: Option<String>, kinds: Option<&str>) -> Result<Route, RouteError> {
        let kinds: Option<Vec<String>> = kinds.map(|k| k.split(',').map(str::to_owned).collect());
        Route::parse(runners.as_deref(), kinds.as_deref())
    }

    /// The kinds it lets through, always listed (all of them when not limited; none when unreadable).
    pub fn told_kinds(&self) -> Vec<Kind> {
        match (self.unreadable, self.kinds.is_empty()) {
            (true, _) => Vec::new(),
            (false, true) => ALL_KINDS.to_vec(),
            (false, false) => self.kinds.clone(),
        }
    }

    /// In words, for the CLI and the dashboard: "all", or what it lets through.
    pub fn describe(&self) -> String {
        if self.unreadable {
            return "nothing: its stored route is unreadable".to_owned();
        }
        match (&self.runners, self.kinds.is_empty()) {
            (None, true) => "all".to_owned(),
            (runners, _) => {
                let kinds = self.told_kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",");
                format!("{} of {}", kinds, runners.as_deref().unwrap_or("all runners"))
            }
        }
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (none included)
/// and every other character for itself. Linear in practice: the usual greedy match with one
/// backtrack point.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("eu-west-3/*", "eu-west-3/build", true),
            ("eu-west-3/*", "eu-west-3/", true),
            ("eu-west-3/*", "us-east-1/build", false),
            ("*-prod", "runner-prod", true),
            ("*-prod", "runner-prod-2", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "", true),
            ("é*", "équipe", true),
        ] {
            assert_eq!(glob_matches(p, t), m, "{p} ~ {t}");
        }
    }

    #[test]
    fn routes() {
        let all = Route::parse(None, None).unwrap();
        assert!(all.matches("anything", Kind::Stale));
        assert_eq!(all.describe(), "all");
        let every = ["recovered".into(), "never_reported".into(), "stale".into(), "degraded".into()];
        let star = Route::parse(Some("*"), Some(&every)).unwrap();
        assert_eq!(star, all, "'*' and every kind are no filter");
        // The three kinds that were all of them before issue 17 are a filter now: an explicit
        // list is kept as given (a channel stored as "all" gets never_reported).
        let three = Route::parse(None, Some(&["degraded".into(), "stale".into(), "recovered".into()])).unwrap();
        assert_eq!(three.kinds, [Kind::Degraded, Kind::Stale, Kind::Recovered]);
        assert!(!three.matches("r", Kind::NeverReported));
        let team = Route::parse(Some("team-a/*"), Some(&["recovered".into(), "degraded".into()])).unwrap();
        assert_eq!(team.kinds, [Kind::Degraded, Kind::Recovered], "in a fixed order");
        assert!(team.matches("team-a/x", Kind::Degraded) && !team.matches("team-a/x", Kind::Stale));
        assert!(!team.matches("team-b/x", Kind::Degraded));
        assert_eq!(team.kinds_column().as_deref(), Some("degraded,recovered"));
        assert_eq!(Route::from_columns(Some("team-a/*".into()), Some("degraded,recovered")).unwrap(), team);
        assert_eq!(team.describe(), "degraded,recovered of team-a/*");
        assert_eq!(Route::parse(None, Some(&["stale".into()])).unwrap().describe(), "stale of all runners");

        let broken = Route::unreadable();
        assert!(!broken.matches("anything", Kind::Degraded) && broken.told_kinds().is_empty());
        assert_eq!(broken.describe(), "nothing: its stored route is unreadable");

        for (runners, kinds, says) in [
            (Some(" "), None, "invalid runners pattern"),
            (Some("team-a/* "), None, "no space at either end"),
            (Some("\u{feff}team"), None, "no space at either end"),
            (None, Some(vec![" stale".to_owned()]), "invalid kind"),
            (Some("a\nb"), None, "invalid runners pattern"),
            (None, Some(vec![]), "kinds is empty"),
            (None, Some(vec!["paged".to_owned()]), "invalid kind 'paged'"),
            (None, Some(vec!["stale".to_owned(), "stale".to_owned()]), "given twice"),
        ] {
            let err = Route::parse(runners, kinds.as_deref()).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        assert!(Route::parse(Some(&"x".repeat(201)), None).is_err());
    }
}
