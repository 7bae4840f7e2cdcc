use ralph_loop::plugin::{CallEnv, Limits, Runtime};
use std::sync::Arc;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let rt = Runtime::shared().unwrap();
    let t = std::time::Instant::now();
    let mut limits = Limits::DEFAULT;
    limits.timeout = std::time::Duration::from_millis(300);
    let loaded = rt.load("hostile", &bytes, Some(std::path::Path::new("/tmp/plugcache")), limits).unwrap();
    println!("load {:?} {:?}", t.elapsed(), loaded.descriptor());
    let ctx = r#"{"kind":"phase","phase":"build","agent":"builder","iteration":1,"started_at":"t"}"#;
    for mode in ["none", "veto", "flaky", "panic", "snoop", "spin", "bomb"] {
        let mut cfg = std::collections::BTreeMap::new();
        cfg.insert("mode".to_owned(), mode.to_owned());
        let env = CallEnv { config: Arc::new(cfg), notify: false };
        let t = std::time::Instant::now();
        let r = loaded.call("phase.before_build", ctx, env);
        println!("{mode}: {:?} -> {:?}", t.elapsed(), r.map(|o| (o.decision, o.logs)));
    }
    let mut cfg = std::collections::BTreeMap::new();
    cfg.insert("mode".to_owned(), "none".to_owned());
    let env = CallEnv { config: Arc::new(cfg), notify: false };
    let mut times = Vec::new();
    for _ in 0..2000 {
        let t = std::time::Instant::now();
        loaded.call("phase.before_build", ctx, env.clone()).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!("median {:?} p90 {:?}", times[1000], times[1800]);
}
