//! The service's definition: a systemd user unit (Linux) or a launchd
//! agent (macOS) that runs `orc-dispatch --follow` in a repository.

use std::collections::BTreeMap;

use crate::schedule::launchd_plist::escape;

/// What the service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The service's name: `orc-dispatch-<session>`.
    pub name: String,
    /// The repository it runs in.
    pub repo: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Its whole environment.
    pub env: BTreeMap<String, String>,
    /// Where its output goes.
    pub log: String,
}

/// Quote one word of a systemd command line: double quotes, with `\`,
/// `"` escaped, `%` doubled (a specifier otherwise) and `$` doubled (a
/// variable otherwise).
fn systemd_word(word: &str) -> String {
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The systemd user unit. `KillMode=process`: stopping the service sends
/// SIGTERM to the dispatcher alone, whose workers (each under its own
/// shim) keep running for the next start to adopt.
pub fn systemd(spec: &Spec) -> String {
    let exec: Vec<String> = spec.argv.iter().map(|w| systemd_word(w)).collect();
    let mut x = format!(
        "# Written by orc-ctl service install; `orc-ctl service uninstall` removes it.\n\
         [Unit]\n\
         Description=orc-dispatch --follow in {repo}\n\
         \n\
         [Service]\n\
         Type=simple\n\
         WorkingDirectory={dir}\n",
        repo = spec.repo.replace('%', "%%"),
        dir = spec.repo.replace('%', "%%"),
    );
    for (k, v) in &spec.env {
        x.push_str(&format!(
            "Environment={}\n",
            systemd_word(&format!("{k}={v}"))
        ));
    }
    x.push_str(&format!(
        "ExecStart={}\n\
         KillMode=process\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=120\n\
         Restart=on-failure\n\
         RestartSec=30\n\
         StandardOutput=append:{log}\n\
         StandardError=append:{log}\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        exec.join(" "),
        log = spec.log.replace('%', "%%"),
    ));
    x
}

/// The launchd agent: run at load (login), restarted when it fails.
pub fn launchd(spec: &Spec) -> String {
    let mut x = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" ",
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
        "<plist version=\"1.0\">\n<dict>\n"
    ));
    let string = |x: &mut String, key: &str, value: &str| {
        x.push_str(&format!(
            "\t<key>{key}</key>\n\t<string>{}</string>\n",
            escape(value)
        ));
    };
    string(&mut x, "Label", &format!("dev.orc.{}", spec.name));
    x.push_str("\t<key>ProgramArguments</key>\n\t<array>\n");
    for word in &spec.argv {
        x.push_str(&format!("\t\t<string>{}</string>\n", escape(word)));
    }
    x.push_str("\t</array>\n");
    string(&mut x, "WorkingDirectory", &spec.repo);
    x.push_str("\t<key>EnvironmentVariables</key>\n\t<dict>\n");
    for (k, v) in &spec.env {
        x.push_str(&format!(
            "\t\t<key>{}</key>\n\t\t<string>{}</string>\n",
            escape(k),
            escape(v)
        ));
    }
    x.push_str("\t</dict>\n");
    x.push_str("\t<key>RunAtLoad</key>\n\t<true/>\n");
    x.push_str("\t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n");
    x.push_str("\t<key>AbandonProcessGroup</key>\n\t<true/>\n");
    string(&mut x, "StandardOutPath", &spec.log);
    string(&mut x, "StandardErrorPath", &spec.log);
    x.push_str("</dict>\n</plist>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_systemd() {
        assert_eq!(systemd_word("a b"), "\"a b\"");
        assert_eq!(systemd_word("50%$x\"\\"), "\"50%%$$x\\\"\\\\\"");
        let spec = Spec {
            name: "orc-dispatch-r-1".into(),
            repo: "/src/r".into(),
            argv: vec!["/bin/orc-dispatch".into(), "--follow".into()],
            env: BTreeMap::from([("ORC_AGENT_CMD".into(), "fake {issue}".into())]),
            log: "/s/logs/x.log".into(),
        };
        let unit = systemd(&spec);
        assert!(
            unit.contains("ExecStart=\"/bin/orc-dispatch\" \"--follow\"\n"),
            "{unit}"
        );
        assert!(
            unit.contains("Environment=\"ORC_AGENT_CMD=fake {issue}\"\n"),
            "{unit}"
        );
        assert!(unit.contains("KillMode=process\n"));
        let plist = launchd(&spec);
        assert!(
            plist.contains("<string>dev.orc.orc-dispatch-r-1</string>"),
            "{plist}"
        );
        assert!(plist.contains("<key>RunAtLoad</key>\n\t<true/>"));
    }
}
