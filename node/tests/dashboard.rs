//! The dashboard in a real headless browser (Debian's `chromium`, driven
//! through `chromedriver` by WebDriver): a dev cluster, a job submitted
//! while the page is open, and the page — never reloaded — showing the job,
//! then (opened with the keyboard) its allocation turning complete, its
//! output, and the events. Screenshots of each stage are kept under
//! `target/tmp/dashboard/`. Without a browser it says SKIP loudly, unless
//! `DROVER_REQUIRE_BROWSER=1` (CI), where a missing browser fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::{drover, free_ports, signal, wait_for};
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn json_of(answer: ureq::Response) -> Value {
    serde_json::from_str(&answer.into_string().unwrap()).unwrap()
}

fn get_json(url: &str) -> Option<Value> {
    ureq::get(url).call().ok().map(json_of)
}

fn found(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// A WebDriver session on a chromedriver of its own.
struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path, port: u16) -> Self {
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver", Duration::from_secs(20), || {
            let status = get_json(&format!("{base}/status"))?;
            status["value"]["ready"].as_bool().filter(|r| *r)
        });
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1366,900"],
            },
        }}});
        let created = json_of(
            ureq::post(&format!("{base}/session"))
                .set("Content-Type", "application/json")
                .send_string(&capabilities.to_string())
                .expect("a browser session"),
        );
        let session = created["value"]["sessionId"].as_str().unwrap().to_string();
        Self {
            driver,
            base,
            session,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = ureq::request(method, &url).timeout(Duration::from_secs(30));
        let answer = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_string(&body.to_string()),
            None => request.call(),
        };
        match answer {
            Ok(answer) => Ok(json_of(answer)["value"].clone()),
            Err(ureq::Error::Status(_, answer)) => Err(answer.into_string().unwrap_or_default()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .unwrap();
    }

    fn element(&self, css: &str) -> Option<String> {
        let found = self
            .call(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .ok()?;
        found[ELEMENT].as_str().map(String::from)
    }

    fn text(&self, css: &str) -> Option<String> {
        let element = self.element(css)?;
        let text = self
            .call("GET", &format!("/element/{element}/text"), None)
            .ok()?;
        text.as_str().map(String::from)
    }

    fn wait_text(&self, what: &str, css: &str, wanted: impl Fn(&str) -> bool) -> String {
        wait_for(what, Duration::from_secs(60), || {
            self.text(css).filter(|t| wanted(t))
        })
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .unwrap()
    }

    fn screenshot(&self, dir: &Path, name: &str) {
        let shot = self.call("GET", "/screenshot", None).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

const JOB: &str = "id = \"shown\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo seen in the browser; sleep 2\"]\n";

/// Chromium and chromedriver, or `None` after saying SKIP loudly (a
/// failure where CI requires the browser).
fn browser_programs(test: &str) -> Option<(PathBuf, PathBuf)> {
    let (Some(chromium), Some(chromedriver)) = (found("chromium"), found("chromedriver")) else {
        assert!(
            std::env::var("DROVER_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "DROVER_REQUIRE_BROWSER=1 but chromium or chromedriver is missing"
        );
        eprintln!(
            "SKIP {test}: no chromium and chromedriver (apt-get install chromium chromium-driver) — this test did NOT run"
        );
        return None;
    };
    Some((chromium, chromedriver))
}

#[test]
fn the_dashboard_shows_a_job_run_to_completion_without_a_reload() {
    let Some((chromium, chromedriver)) =
        browser_programs("the_dashboard_shows_a_job_run_to_completion_without_a_reload")
    else {
        return;
    };
    let ports = free_ports(7);
    let (grpc, http, driver_port) = (ports[0], ports[3], ports[6]);
    let mut dev = drover()
        .args(["dev", "--port", &grpc.to_string()])
        .args(["--http-port", &http.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ui = format!("http://127.0.0.1:{http}");
    wait_for("the REST API", Duration::from_secs(30), || {
        let cluster = get_json(&format!("{ui}/v1/cluster"))?;
        (!cluster["leader"].is_null()).then_some(())
    });
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    let browser = Browser::start(&chromium, &chromedriver, driver_port);
    browser.open(&format!("{ui}/ui"));
    browser.wait_text("the leader shown", "#leader", |t| t.starts_with("node "));
    browser.wait_text("three nodes listed", "#nodes", |t| {
        t.matches("ready").count() == 3
    });
    // Set in the page: a reload would lose it.
    browser.script("window.notReloaded = true;");
    browser.screenshot(&shots, "1-cluster");

    let submitted = ureq::post(&format!("{ui}/v1/jobs"))
        .set("Content-Type", "application/toml")
        .send_string(JOB)
        .expect("the job is accepted");
    assert_eq!(submitted.status(), 200);
    browser.wait_text("the job listed", "#jobs tr[data-job=\"shown\"]", |t| {
        t.contains("shown")
    });
    browser.screenshot(&shots, "2-job-listed");

    // Opened with the keyboard: Enter on the job's button.
    let button = browser
        .element("#jobs tr[data-job=\"shown\"] button")
        .unwrap();
    browser
        .call(
            "POST",
            &format!("/element/{button}/value"),
            Some(json!({ "text": "\u{E007}" })),
        )
        .unwrap();
    browser.wait_text("the allocation shown", "#allocations", |t| {
        t.contains("a0000")
    });
    browser.wait_text("the allocation complete", "#allocations", |t| {
        t.contains("complete")
    });
    browser.wait_text("its output", "#logs", |t| t.contains("seen in the browser"));
    browser.wait_text("the events", "#events", |t| {
        t.contains("alloc_complete") && t.contains("job_submitted")
    });
    browser.screenshot(&shots, "3-job-complete");
    assert_eq!(
        browser.script("return window.notReloaded === true;"),
        json!(true),
        "the page was reloaded"
    );
    assert!(
        browser.text("#problem").unwrap_or_default().is_empty(),
        "the page reported a problem"
    );
    drop(browser);
    signal(dev.id(), "-INT");
    let _ = dev.wait();
}

/// With ACLs the page says what is missing until a token is given in its
/// field, then shows the cluster and follows its events with that token.
#[test]
fn with_acls_the_dashboard_asks_for_a_token_and_then_shows_the_cluster() {
    let Some((chromium, chromedriver)) =
        browser_programs("with_acls_the_dashboard_asks_for_a_token_and_then_shows_the_cluster")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    let (http, driver_port) = (ports[0], ports[1]);
    let agents = common::cluster_each(dir.path(), &["hybrid", "hybrid", "hybrid"], |id| {
        let http = if id == 1 {
            format!("http = \"127.0.0.1:{http}\"\n")
        } else {
            String::new()
        };
        format!("{http}[acl]\nenabled = true\n")
    });
    let addr = agents[0].addr();
    let bootstrap = wait_for("bootstrap", Duration::from_secs(30), || {
        let out = drover()
            .args(["acl", "bootstrap", "--json"])
            .env("DROVER_ADDR", &addr)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap())
    });
    let token = bootstrap["secret"].as_str().unwrap().to_string();
    let ui = format!("http://127.0.0.1:{http}");
    let browser = Browser::start(&chromium, &chromedriver, driver_port);
    browser.open(&format!("{ui}/ui"));
    browser.wait_text("the page to say a token is needed", "#problem", |t| {
        t.contains("requires an ACL token")
    });
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    browser.screenshot(&shots, "acl-1-no-token");

    let field = browser.element("#token").unwrap();
    browser
        .call(
            "POST",
            &format!("/element/{field}/value"),
            Some(json!({ "text": token })),
        )
        .unwrap();
    let button = browser.element("#token-form button").unwrap();
    browser
        .call("POST", &format!("/element/{button}/click"), Some(json!({})))
        .unwrap();
    browser.wait_text("three nodes listed", "#nodes", |t| {
        t.matches("ready").count() == 3
    });
    browser.wait_text("the event stream live", "#events-state", |t| t == "(live)");
    let submitted = ureq::post(&format!("{ui}/v1/jobs"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_string(JOB)
        .expect("the job is accepted");
    assert_eq!(submitted.status(), 200);
    browser.wait_text("the job's events", "#events", |t| {
        t.contains("job_submitted")
    });
    browser.wait_text("the job listed", "#jobs tr[data-job=\"shown\"]", |t| {
        t.contains("shown")
    });
    assert!(
        browser.text("#problem").unwrap_or_default().is_empty(),
        "the page still reports a problem"
    );
    browser.screenshot(&shots, "acl-2-with-token");
    assert_eq!(
        browser.script("return localStorage.getItem('drover-token');"),
        json!(token),
        "the token is kept for the next visit"
    );
}
