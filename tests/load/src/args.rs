//! A small `--name value` / `--flag` command-line parser (the tools take a handful of options).

use std::collections::BTreeMap;
use std::str::FromStr;

/// Parsed options.
#[derive(Debug, Default)]
pub struct Args {
    values: BTreeMap<String, String>,
}

impl Args {
    /// Parses `--name value`, `--name=value` and bare `--flag` (value `true`); anything else is
    /// an error naming it. `known` lists the accepted names (without dashes).
    pub fn parse(args: impl IntoIterator<Item = String>, known: &[&str]) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                anyhow::bail!("unexpected argument {arg:?} (options start with --)");
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    let value = match args.peek() {
                        Some(next) if !next.starts_with("--") => args.next().unwrap_or_default(),
                        _ => "true".to_string(),
                    };
                    (name.to_string(), value)
                }
            };
            anyhow::ensure!(
                known.contains(&name.as_str()),
                "unknown option --{name}; known: --{}",
                known.join(", --")
            );
            values.insert(name, value);
        }
        Ok(Self { values })
    }

    /// The option's value parsed as `T`, or `default`; a bad value is an error naming it.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| anyhow::anyhow!("--{name} {raw:?}: {e}")),
        }
    }

    /// The option's raw value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn parse(args: &[&str]) -> anyhow::Result<Args> {
        Args::parse(
            args.iter().map(|s| s.to_string()),
            &["clients", "json", "keep"],
        )
    }

    #[test]
    fn values_flags_and_errors() {
        let args = parse(&["--clients", "8", "--json=out.json", "--keep"]).unwrap();
        assert_eq!(args.get("clients", 1u32).unwrap(), 8);
        assert_eq!(args.value("json"), Some("out.json"));
        assert!(args.get("keep", false).unwrap());
        assert_eq!(args.get("missing", 3u32).unwrap_or(0), 3);
        assert!(
            parse(&["--nope"])
                .unwrap_err()
                .to_string()
                .contains("--nope")
        );
        assert!(parse(&["stray"]).is_err());
        let bad = parse(&["--clients", "many"]).unwrap();
        assert!(
            bad.get("clients", 1u32)
                .unwrap_err()
                .to_string()
                .contains("--clients")
        );
    }
}
