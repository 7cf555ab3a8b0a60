//! photoUpdateSettings as tenants have it (issue 12): a source that was never set, and a
//! GET wrapped in `value`.

use crate::tenant::graph;
use crate::util::Emulator;

fn status(emu: &Emulator) -> serde_json::Value {
    let run = graph(emu, &["lock-status", "--json"]).run().expect_code(0);
    serde_json::from_str(&run.stdout()).unwrap()
}

#[test]
fn an_unset_source_stays_unset_unless_asked() {
    let emu = Emulator::start(&["--photo-source", "unset"]);
    let before = status(&emu);
    assert_eq!(before["source"], serde_json::Value::Null, "{before}");
    assert_eq!(before["locked"], false);
    let run = graph(&emu, &["lock-status"]).run().expect_code(0);
    assert!(run.stdout().contains("source: not set"), "{}", run.stdout());

    let run = graph(&emu, &["lock"]).run().expect_code(0);
    assert!(run.stdout().contains("--source cloud"), "{}", run.stdout());
    assert!(
        run.stdout().contains("changed and verified"),
        "{}",
        run.stdout()
    );
    let after = status(&emu);
    assert_eq!(after["source"], serde_json::Value::Null, "{after}");
    assert_eq!(after["locked"], true, "{after}");

    graph(&emu, &["lock", "--source", "cloud"])
        .run()
        .expect_code(0);
    assert_eq!(status(&emu)["source"], "cloud");
}

#[test]
fn a_wrapped_settings_answer_is_read() {
    for wrap in ["object", "array"] {
        let emu = Emulator::start(&["--settings-wrapped", wrap]);
        let s = status(&emu);
        assert_eq!(s["source"], "cloud", "{wrap}: {s}");
        graph(&emu, &["lock"]).run().expect_code(0);
        assert_eq!(status(&emu)["locked"], true, "{wrap}");
    }
}
