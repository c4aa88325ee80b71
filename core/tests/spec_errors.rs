//! Malformed job specs, each with the exact field path its first error must
//! name (and a fragment of the message, so the reason is right too).

use drover_core::spec::{Format, parse_job_spec};

const TASK: &str = "[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n";

fn batch(extra_top: &str, extra_task: &str) -> String {
    format!("id = \"j\"\nkind = \"batch\"\n{extra_top}\n{TASK}{extra_task}\n")
}

fn service(extra_top: &str) -> String {
    format!("id = \"j\"\nkind = \"service\"\nreplicas = 2\n{extra_top}\n{TASK}\n")
}

struct Case {
    name: &'static str,
    spec: String,
    path: &'static str,
    says: &'static str,
}

fn case(
    name: &'static str,
    spec: impl Into<String>,
    path: &'static str,
    says: &'static str,
) -> Case {
    Case {
        name,
        spec: spec.into(),
        path,
        says,
    }
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    vec![
        case(
            "missing id",
            "kind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"x\"]\n",
            "id",
            "missing",
        ),
        case(
            "id with a space",
            batch("", "").replace("\"j\"", "\"a b\""),
            "id",
            "contains ' '",
        ),
        case(
            "id too long",
            batch("", "").replace("\"j\"", &format!("\"{}\"", "x".repeat(129))),
            "id",
            "limit is 128",
        ),
        case(
            "id not a string",
            batch("", "").replace("\"j\"", "7"),
            "id",
            "expected a string",
        ),
        case(
            "missing kind",
            "id = \"j\"\n[task]\ndriver = \"exec\"\ncommand = [\"x\"]\n",
            "kind",
            "missing",
        ),
        case(
            "kind misspelt",
            batch("", "").replace("\"batch\"", "\"bacth\""),
            "kind",
            "did you mean \"batch\"",
        ),
        case(
            "replicas on batch",
            batch("replicas = 2", ""),
            "replicas",
            "only service jobs",
        ),
        case(
            "negative replicas",
            "id = \"j\"\nkind = \"service\"\nreplicas = -1\n[task]\ndriver = \"docker\"\nimage = \"i\"\n",
            "replicas",
            "from 0 to",
        ),
        case(
            "too many replicas",
            "id = \"j\"\nkind = \"service\"\nreplicas = 100001\n[task]\ndriver = \"docker\"\nimage = \"i\"\n",
            "replicas",
            "out of range",
        ),
        case(
            "Nomad's type field",
            batch("type = \"batch\"", ""),
            "type",
            "did you mean \"kind\"",
        ),
        case(
            "priority zero",
            batch("priority = 0", ""),
            "priority",
            "out of range",
        ),
        case(
            "priority too big for a byte",
            batch("priority = 300", ""),
            "priority",
            "from 0 to 255",
        ),
        case(
            "bad pool name",
            batch("pool = \"-x\"", ""),
            "pool",
            "start with",
        ),
        case(
            "max_per_node zero",
            batch("max_per_node = 0", ""),
            "max_per_node",
            "out of range",
        ),
        case(
            "missing task",
            "id = \"j\"\nkind = \"batch\"\n",
            "task",
            "missing",
        ),
        case(
            "unknown driver",
            batch("", "").replace("\"exec\"", "\"dokcer\""),
            "task.driver",
            "did you mean \"docker\"",
        ),
        case(
            "docker without image",
            "id = \"j\"\nkind = \"batch\"\n[task]\ndriver = \"docker\"\n",
            "task.image",
            "needs an image",
        ),
        case(
            "exec with image",
            batch("", "image = \"busybox\"\n"),
            "task.image",
            "takes no image",
        ),
        case(
            "command as a string",
            "id = \"j\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = \"echo hi\"\n",
            "task.command",
            "array of strings",
        ),
        case(
            "command with a number",
            "id = \"j\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"echo\", 5]\n",
            "task.command[1]",
            "expected a string",
        ),
        case(
            "command typo",
            batch("", "comand = [\"x\"]\n"),
            "task.comand",
            "did you mean \"command\"",
        ),
        case(
            "env value not a string",
            batch("", "env = { PORT = 80 }\n"),
            "task.env.PORT",
            "expected a string",
        ),
        case(
            "env key not a variable name",
            batch("", "env = { \"1X\" = \"v\" }\n"),
            "task.env.1X",
            "not a variable name",
        ),
        case(
            "memory without unit",
            batch("", "[task.resources]\nmemory = \"512\"\n"),
            "task.resources.memory",
            "no unit",
        ),
        case(
            "memory in decimal units",
            batch("", "[task.resources]\nmemory = \"512MB\"\n"),
            "task.resources.memory",
            "\"MiB\"",
        ),
        case(
            "memory too small",
            batch("", "[task.resources]\nmemory = \"4MiB\"\n"),
            "task.resources.memory",
            "out of range",
        ),
        case(
            "memory_mb too small",
            batch("", "[task.resources]\nmemory_mb = 1\n"),
            "task.resources.memory_mb",
            "out of range",
        ),
        case(
            "memory given twice",
            batch(
                "",
                "[task.resources]\nmemory = \"1GiB\"\nmemory_mb = 1024\n",
            ),
            "task.resources.memory_mb",
            "not both",
        ),
        case(
            "memory typo",
            batch("", "[task.resources]\nmemroy = \"1GiB\"\n"),
            "task.resources.memroy",
            "did you mean \"memory\"",
        ),
        case(
            "cpu with four decimals",
            batch("", "[task.resources]\ncpu = \"0.0005\"\n"),
            "task.resources.cpu",
            "at most 3 decimals",
        ),
        case(
            "cpu zero",
            batch("", "[task.resources]\ncpu = 0\n"),
            "task.resources.cpu",
            "out of range",
        ),
        case(
            "cpu_millis negative",
            batch("", "[task.resources]\ncpu_millis = -5\n"),
            "task.resources.cpu_millis",
            "from 0 to",
        ),
        case(
            "gpus as text",
            batch("", "[task.resources]\ngpus = \"one\"\n"),
            "task.resources.gpus",
            "whole number",
        ),
        case(
            "network unknown",
            batch("", "[task.sandbox]\nnetwork = \"public\"\n"),
            "task.sandbox.network",
            "expected one of",
        ),
        case(
            "read_only_root not a bool",
            batch("", "[task.sandbox]\nread_only_root = \"yes\"\n"),
            "task.sandbox.read_only_root",
            "true or false",
        ),
        case(
            "constraint attribute unknown",
            batch("[[constraint]]\nattribute = \"region\"\nvalue = \"eu\"", ""),
            "constraint[0].attribute",
            "did you mean \"node.region\"",
        ),
        case(
            "constraint in with a string",
            batch(
                "[[constraint]]\nattribute = \"node.region\"\noperator = \"in\"\nvalue = \"eu\"",
                "",
            ),
            "constraint[0].value",
            "array of strings",
        ),
        case(
            "constraint exists with value",
            batch(
                "[[constraint]]\nattribute = \"label.ssd\"\noperator = \"exists\"\nvalue = \"x\"",
                "",
            ),
            "constraint[0].value",
            "takes no value",
        ),
        case(
            "constraint without value",
            batch(
                "[[constraint]]\nattribute = \"label.ssd\"\noperator = \"!=\"",
                "",
            ),
            "constraint[0].value",
            "missing",
        ),
        case(
            "constraint bad regex",
            batch(
                "[[constraint]]\nattribute = \"label.zone\"\noperator = \"regex\"\nvalue = \"eu-(\"",
                "",
            ),
            "constraint[0].value",
            "invalid regular expression",
        ),
        case(
            "constraint bad version",
            batch(
                "[[constraint]]\nattribute = \"label.kernel\"\noperator = \"version\"\nvalue = \"5.10\"",
                "",
            ),
            "constraint[0].value",
            "comparison",
        ),
        case(
            "constraint operator typo",
            batch(
                "[[constraint]]\nattribute = \"label.a\"\noperator = \"not-in\"\nvalue = [\"x\"]",
                "",
            ),
            "constraint[0].operator",
            "did you mean \"not_in\"",
        ),
        case(
            "second constraint broken",
            batch(
                "[[constraint]]\nattribute = \"label.a\"\nvalue = \"x\"\n[[constraint]]\nattribute = \"label.b\"\noperator = \"in\"\nvalue = []",
                "",
            ),
            "constraint[1].value",
            "empty list",
        ),
        case(
            "constraint as a table",
            batch("[constraint]\nattribute = \"label.a\"\nvalue = \"x\"", ""),
            "constraint",
            "array of tables",
        ),
        case(
            "spread targets over 100%",
            batch(
                "[[spread]]\nattribute = \"node.region\"\n[[spread.target]]\nvalue = \"a\"\npercent = 60\n[[spread.target]]\nvalue = \"b\"\npercent = 60",
                "",
            ),
            "spread[0].target",
            "add up to 120",
        ),
        case(
            "spread target repeated",
            batch(
                "[[spread]]\nattribute = \"node.region\"\n[[spread.target]]\nvalue = \"a\"\npercent = 10\n[[spread.target]]\nvalue = \"a\"\npercent = 10",
                "",
            ),
            "spread[0].target[1].value",
            "has a target already",
        ),
        case(
            "spread weight zero",
            batch("[[spread]]\nattribute = \"node.region\"\nweight = 0", ""),
            "spread[0].weight",
            "out of range",
        ),
        case(
            "restart delay without unit",
            batch("[restart]\ndelay = \"10\"", ""),
            "restart.delay",
            "not a duration",
        ),
        case(
            "reschedule max below delay",
            batch("[reschedule]\ndelay = \"1m\"\nmax_delay = \"10s\"", ""),
            "reschedule.max_delay",
            "shorter than",
        ),
        case(
            "update max_parallel zero",
            batch("[update]\nmax_parallel = 0", ""),
            "update.max_parallel",
            "out of range",
        ),
        case(
            "datetime where a number goes",
            batch("priority = 1979-05-27", ""),
            "priority",
            "datetime",
        ),
        case(
            "multiregion on a batch job",
            batch("", "[[multiregion.region]]\nname = \"eu\"\ncount = 1\n"),
            "multiregion",
            "multiregion is for services",
        ),
        case(
            "a region listed twice",
            "id = \"j\"\nkind = \"service\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n[[multiregion.region]]\nname = \"eu\"\ncount = 1\n[[multiregion.region]]\nname = \"eu\"\ncount = 2\n",
            "multiregion.region[1].name",
            "listed twice",
        ),
        case(
            "a region without a count",
            "id = \"j\"\nkind = \"service\"\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n[[multiregion.region]]\nname = \"eu\"\n",
            "multiregion.region[0].count",
            "missing",
        ),
        case(
            "a port without a label",
            batch("", "[[task.port]]\nstatic = 8080\n"),
            "task.port[0].label",
            "missing",
        ),
        case(
            "a port label that names no variable",
            batch("", "[[task.port]]\nlabel = \"my-port\"\n"),
            "task.port[0].label",
            "is not a port label",
        ),
        case(
            "a port label twice",
            batch(
                "",
                "[[task.port]]\nlabel = \"http\"\n[[task.port]]\nlabel = \"HTTP\"\n",
            ),
            "task.port[1].label",
            "asked for twice",
        ),
        case(
            "a static port out of range",
            batch("", "[[task.port]]\nlabel = \"http\"\nstatic = 70000\n"),
            "task.port[0].static",
            "65535",
        ),
        case(
            "static port 0",
            batch("", "[[task.port]]\nlabel = \"http\"\nstatic = 0\n"),
            "task.port[0].static",
            "0 is no port",
        ),
        case(
            "an unknown port field",
            batch("", "[[task.port]]\nlabel = \"http\"\nfrom = 80\n"),
            "task.port[0].from",
            "unknown",
        ),
        case(
            "ports on a docker task without a network",
            "id = \"j\"\nkind = \"batch\"\n[task]\ndriver = \"docker\"\nimage = \"busybox\"\n[[task.port]]\nlabel = \"http\"\n",
            "task.port[0]",
            "set [task.sandbox] network = \"bridge\"",
        ),
        case(
            "a port variable set by hand",
            batch("", "env = { DROVER_PORT_HTTP = \"1\" }\n"),
            "task.env.DROVER_PORT_HTTP",
            "set by Drover",
        ),
        case(
            "a check without a type",
            batch("", "[[task.check]]\ninterval = \"1s\"\n"),
            "task.check[0].type",
            "missing",
        ),
        case(
            "a check of an unknown type",
            batch("", "[[task.check]]\ntype = \"grpc\"\n"),
            "task.check[0].type",
            "\"http\"",
        ),
        case(
            "an http check naming no port",
            batch(
                "",
                "[[task.port]]\nlabel = \"web\"\n[[task.check]]\ntype = \"http\"\n",
            ),
            "task.check[0].port",
            "one of the task's [[task.port]] labels (web)",
        ),
        case(
            "a tcp check naming a port the task lacks",
            batch(
                "",
                "[[task.port]]\nlabel = \"web\"\n[[task.check]]\ntype = \"tcp\"\nport = \"db\"\n",
            ),
            "task.check[0].port",
            "\"db\" names no port of the task; its ports: web",
        ),
        case(
            "an http check's path without a slash",
            batch(
                "",
                "[[task.port]]\nlabel = \"web\"\n[[task.check]]\ntype = \"http\"\nport = \"web\"\npath = \"health\"\n",
            ),
            "task.check[0].path",
            "starts with '/'",
        ),
        case(
            "an http check expecting no status",
            batch(
                "",
                "[[task.port]]\nlabel = \"web\"\n[[task.check]]\ntype = \"http\"\nport = \"web\"\nstatus = 42\n",
            ),
            "task.check[0].status",
            "100 to 599",
        ),
        case(
            "a path on a tcp check",
            batch(
                "",
                "[[task.port]]\nlabel = \"web\"\n[[task.check]]\ntype = \"tcp\"\nport = \"web\"\npath = \"/\"\n",
            ),
            "task.check[0].path",
            "only http checks take path",
        ),
        case(
            "a port on an exec check",
            batch(
                "",
                "[[task.check]]\ntype = \"exec\"\ncommand = [\"true\"]\nport = \"web\"\n",
            ),
            "task.check[0].port",
            "only http and tcp checks take port",
        ),
        case(
            "an exec check without a command",
            batch("", "[[task.check]]\ntype = \"exec\"\n"),
            "task.check[0].command",
            "needs a command",
        ),
        case(
            "an http check's path with a space",
            batch(
                "",
                "[[task.port]]\nlabel = \"web\"\n[[task.check]]\ntype = \"http\"\nport = \"web\"\npath = \"/a b\"\n",
            ),
            "task.check[0].path",
            "no spaces or control characters",
        ),
        case(
            "a check once in a thousand days",
            batch(
                "",
                "[[task.check]]\ntype = \"exec\"\ncommand = [\"true\"]\ninterval = \"1000d\"\n",
            ),
            "task.check[0].interval",
            "longer than a check may wait",
        ),
        case(
            "a check too often",
            batch(
                "",
                "[[task.check]]\ntype = \"exec\"\ncommand = [\"true\"]\ninterval = \"10ms\"\n",
            ),
            "task.check[0].interval",
            "too often",
        ),
        case(
            "a check's timeout that is no duration",
            batch(
                "",
                "[[task.check]]\ntype = \"exec\"\ncommand = [\"true\"]\ntimeout = \"soon\"\n",
            ),
            "task.check[0].timeout",
            "",
        ),
        case(
            "a check restart after 0 failures",
            batch(
                "",
                "[[task.check]]\ntype = \"exec\"\ncommand = [\"true\"]\n[task.check.check_restart]\nlimit = 0\n",
            ),
            "task.check[0].check_restart.limit",
            "use 1 or more",
        ),
        case(
            "a check restart without a limit",
            batch(
                "",
                "[[task.check]]\ntype = \"exec\"\ncommand = [\"true\"]\n[task.check.check_restart]\ngrace = \"1s\"\n",
            ),
            "task.check[0].check_restart.limit",
            "missing",
        ),
        case(
            "an unknown check field",
            batch(
                "",
                "[[task.check]]\ntype = \"exec\"\ncommand = [\"true\"]\nintervall = \"1s\"\n",
            ),
            "task.check[0].intervall",
            "did you mean \"interval\"",
        ),
        case(
            "a healthy deadline no instance could meet",
            batch(
                "[update]\nmin_healthy_time = \"1m\"\nhealthy_deadline = \"30s\"\n",
                "",
            ),
            "update.healthy_deadline",
            "not longer than update.min_healthy_time",
        ),
        case(
            "a min_healthy_time that is no duration",
            batch("[update]\nmin_healthy_time = \"ten\"\n", ""),
            "update.min_healthy_time",
            "",
        ),
        case(
            "a progress deadline shorter than the healthy deadline",
            service("[update]\nhealthy_deadline = \"5m\"\nprogress_deadline = \"1m\"\n"),
            "update.progress_deadline",
            "shorter than update.healthy_deadline",
        ),
        case(
            "more canaries than replicas",
            service("[update]\ncanary = 3\n"),
            "update.canary",
            "more than the job's 2 replicas",
        ),
        case(
            "a negative canary count",
            service("[update]\ncanary = -1\n"),
            "update.canary",
            "",
        ),
        case(
            "canaries on a batch job",
            batch("[update]\ncanary = 1\n", ""),
            "update.canary",
            "only services take canaries",
        ),
        case(
            "auto_revert on a batch job",
            batch("[update]\nauto_revert = true\n", ""),
            "update.auto_revert",
            "only services",
        ),
        case(
            "a data directory the spec sets itself",
            batch("", "[task.env]\nDROVER_DATA_DIR = \"/tmp\"\n"),
            "task.env.DROVER_DATA_DIR",
            "set by Drover",
        ),
        case(
            "migrate that is no boolean",
            service("[ephemeral_disk]\nmigrate = 1\n"),
            "ephemeral_disk.migrate",
            "",
        ),
        case(
            "an unknown field of ephemeral_disk",
            service("[ephemeral_disk]\nsticky = true\n"),
            "ephemeral_disk.sticky",
            "",
        ),
        case(
            "canaries beside data that migrates",
            service("[ephemeral_disk]\nmigrate = true\n[update]\ncanary = 1\n"),
            "update.canary",
            "stops each instance before its replacement starts",
        ),
        case(
            "a system job whose data migrates",
            "id = \"j\"\nkind = \"system\"\n[ephemeral_disk]\nmigrate = true\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n",
            "ephemeral_disk.migrate",
            "never move",
        ),
        case(
            "auto_revert that is no boolean",
            service("[update]\nauto_revert = \"yes\"\n"),
            "update.auto_revert",
            "",
        ),
        case(
            "a volume name that names no variable",
            batch("[[volume]]\nname = \"my-data\"\n", ""),
            "volume[0].name",
            "not a volume name",
        ),
        case(
            "a volume asked for twice",
            batch(
                "[[volume]]\nname = \"data\"\n[[volume]]\nname = \"DATA\"\n",
                "",
            ),
            "volume[1].name",
            "asked for twice",
        ),
        case(
            "an exec task given a destination",
            batch("[[volume]]\nname = \"data\"\ndestination = \"/data\"\n", ""),
            "volume[0].destination",
            "finds the volume's path in DROVER_VOLUME_<NAME>",
        ),
        case(
            "a container volume without a destination",
            "id = \"j\"\nkind = \"batch\"\n[[volume]]\nname = \"data\"\n[task]\ndriver = \"docker\"\nimage = \"busybox\"\n",
            "volume[0].destination",
            "missing",
        ),
        case(
            "a relative container destination",
            "id = \"j\"\nkind = \"batch\"\n[[volume]]\nname = \"data\"\ndestination = \"data/../x\"\n[task]\ndriver = \"docker\"\nimage = \"busybox\"\n",
            "volume[0].destination",
            "not an absolute path",
        ),
        case(
            "an unknown volume field",
            batch("[[volume]]\nname = \"data\"\nsource = \"x\"\n", ""),
            "volume[0].source",
            "unknown",
        ),
        case(
            "a volume variable set by hand",
            batch("", "[task.env]\nDROVER_VOLUME_DATA = \"/x\"\n"),
            "task.env.DROVER_VOLUME_DATA",
            "set by Drover",
        ),
        case(
            "a port of its own for a process",
            batch("", "[[task.port]]\nlabel = \"http\"\nto = 80\n"),
            "task.port[0].to",
            "only a container on a bridge network",
        ),
        case(
            "a port of its own on the host's network",
            "id = \"j\"\nkind = \"batch\"\n[task]\ndriver = \"docker\"\nimage = \"busybox\"\n[task.sandbox]\nnetwork = \"host\"\n[[task.port]]\nlabel = \"http\"\nto = 80\n",
            "task.port[0].to",
            "only a container on a bridge network",
        ),
        case(
            "TOML syntax error",
            "id = \"j\nkind = \"batch\"\n",
            "",
            "TOML syntax",
        ),
    ]
}

#[test]
fn every_malformed_toml_spec_names_its_field() {
    let cases = cases();
    assert!(cases.len() >= 25);
    for c in &cases {
        let errors = match parse_job_spec(&c.spec, Format::Toml) {
            Ok(spec) => panic!("{}: accepted as {spec:?}", c.name),
            Err(errors) => errors,
        };
        let hit = errors.iter().find(|e| e.path == c.path);
        let Some(hit) = hit else {
            panic!("{}: no error at path {:?}; got: {errors}", c.name, c.path);
        };
        assert!(
            hit.message.contains(c.says),
            "{}: error at {:?} says {:?}, expected it to mention {:?}",
            c.name,
            c.path,
            hit.message,
            c.says
        );
        assert!(
            hit.pos.is_some(),
            "{}: TOML errors carry a position",
            c.name
        );
    }
}

#[test]
fn errors_carry_the_line_and_column_of_the_value() {
    let spec = "id = \"j\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"x\"]\n[task.resources]\nmemory = \"9XB\"\n";
    let errors = parse_job_spec(spec, Format::Toml).unwrap_err();
    let e = errors.iter().next().unwrap();
    assert_eq!(e.path, "task.resources.memory");
    assert_eq!(e.pos.map(|p| (p.line, p.column)), Some((7, 10)));
}

#[test]
fn all_structural_errors_come_at_once() {
    let spec = "id = \"j\"\nkind = \"batch\"\nprioirty = 3\n[task]\ndriver = \"exec\"\ncomand = [\"x\"]\n[task.resources]\ncpu = \"lots\"\n";
    let errors = parse_job_spec(spec, Format::Toml).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["prioirty", "task.comand", "task.resources.cpu"]);
}

#[test]
fn json_specs_get_the_same_paths() {
    let spec = r#"{"id": "j", "kind": "batch", "task": {"driver": "exec", "command": ["x"], "resources": {"memroy": "1GiB"}}}"#;
    let errors = parse_job_spec(spec, Format::Json).unwrap_err();
    let e = errors.iter().next().unwrap();
    assert_eq!(e.path, "task.resources.memroy");
    assert!(e.message.contains("did you mean \"memory\""));
    let bad_syntax = parse_job_spec("{\"id\": }", Format::Json).unwrap_err();
    assert!(bad_syntax.iter().next().unwrap().pos.is_some());
}

#[test]
fn oversized_specs_are_refused_before_parsing() {
    let huge = format!("id = \"j\"\n# {}\n", "x".repeat(2 * 1024 * 1024));
    let errors = parse_job_spec(&huge, Format::Toml).unwrap_err();
    assert!(errors.iter().next().unwrap().message.contains("limit"));
}

#[test]
fn the_examples_validate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        let spec = parse_job_spec(&text, Format::detect(&name, &text))
            .unwrap_or_else(|e| panic!("{}", e.render(&name)));
        seen.push(spec.kind.name());
    }
    for kind in ["batch", "service", "system"] {
        assert!(
            seen.contains(&kind),
            "no {kind} example in {}",
            dir.display()
        );
    }
}

/// The issue's own spec: a dynamic port and an http check on it.
#[test]
fn a_service_with_a_dynamic_port_and_an_http_check_is_accepted() {
    let spec = parse_job_spec(
        r#"id = "web"
kind = "service"
replicas = 2
[task]
driver = "exec"
command = ["sh", "-c", "exec python3 -m http.server $DROVER_PORT_HTTP"]
[[task.port]]
label = "http"            # dynamic: no `static`
[[task.check]]
type = "http"
port = "http"
path = "/"
interval = "1s"
timeout = "1s"
[task.check.check_restart]
limit = 3
"#,
        Format::Toml,
    )
    .expect("accepted");
    let check = &spec.ext.checks[0];
    assert_eq!(
        check.kind,
        drover_core::health::CheckKind::Http {
            port: "http".into(),
            path: "/".into(),
            status: None
        }
    );
    assert_eq!((check.interval_ms, check.timeout_ms), (1000, 1000));
    assert_eq!(check.restart_after, Some(3));
    let json = r#"{"id": "web", "kind": "service", "task": {"driver": "exec",
        "command": ["true"], "port": [{"label": "http"}],
        "check": [{"type": "http", "port": "http", "interval": "1s", "timeout": "1s",
                   "check_restart": {"limit": 3}}]}}"#;
    let again = parse_job_spec(json, Format::Json).expect("the same in JSON");
    assert_eq!(again.ext.checks, spec.ext.checks);
}
