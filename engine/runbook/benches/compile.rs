//! Compile time of a large generated runbook: `cargo bench -p drctl-runbook --bench compile`.
//!
//! The runbook: N steps (10,000 by default, `DRCTL_BENCH_STEPS` to change), each needing up
//! to 3 random earlier steps, each with templates that read the outputs of the steps it
//! needs, in `with`, in `when` and in a verify call. The RNG is seeded, so every run
//! compiles the same text. Budget (issue 2): under 200 ms for 10,000 steps, release build.

use std::time::{Duration, Instant};

use drctl_connectors::Registry;
use drctl_runbook::{NoCalls, Source, compile};

/// xorshift64*: small, seeded, good enough to shape a DAG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate(steps: usize, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut out = String::with_capacity(steps * 260);
    out.push_str("runbook: generated\nparams:\n  region: { type: string, default: a }\nsteps:\n");
    for i in 0..steps {
        out.push_str(&format!("  - id: s{i}\n"));
        let mut needs: Vec<usize> = Vec::new();
        if i > 0 {
            for _ in 0..rng.below(4) {
                let n = rng.below(i as u64) as usize;
                if !needs.contains(&n) {
                    needs.push(n);
                }
            }
        }
        if needs.is_empty() {
            out.push_str("    action: http.check\n");
            out.push_str(&format!(
                "    with: {{ url: \"http://{{{{ params.region }}}}.lb/{i}\", consecutive_successes: 2, interval: 1s }}\n"
            ));
            continue;
        }
        let list: Vec<String> = needs.iter().map(|n| format!("s{n}")).collect();
        out.push_str(&format!("    needs: [{}]\n", list.join(", ")));
        out.push_str(&format!(
            "    when: \"steps.s{}.status == 'succeeded'\"\n",
            needs[0]
        ));
        out.push_str("    action: log\n");
        let refs: Vec<String> = needs
            .iter()
            .map(|n| format!("{{{{ steps.s{n}.output | to_json }}}}"))
            .collect();
        out.push_str(&format!(
            "    with: {{ message: \"step {i} after {}\", level: info }}\n",
            refs.join(" ")
        ));
        if i % 10 == 0 {
            out.push_str(&format!(
                "    verify: {{ action: assert, with: {{ that: \"{{{{ steps.s{i}.output is defined }}}}\" }} }}\n"
            ));
        }
    }
    out
}

fn main() {
    let steps: usize = std::env::var("DRCTL_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let runs = 10;
    let text = generate(steps, 0x5eed_d1ce);
    let registry = Registry::builtin();
    let source = Source::new("generated.yaml", text);
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let compiled = compile(&source, &registry, &NoCalls);
        let elapsed = start.elapsed();
        assert!(
            compiled.diagnostics.is_empty(),
            "{:?}",
            compiled.diagnostics.first()
        );
        let rb = compiled.runbook.expect("compiles");
        assert_eq!(rb.steps.steps.len(), steps);
        times.push(elapsed);
    }
    times.sort();
    // Where the time goes: the YAML parse alone, and the parse plus the raw decode.
    let stage = |f: &dyn Fn()| {
        let mut t: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect();
        t.sort();
        t[runs / 2]
    };
    let parse = stage(&|| {
        let mut d = drctl_runbook::diagnostic::Diagnostics::new();
        drctl_runbook::yaml::parse(&source, &mut d).expect("parses");
    });
    let decode = stage(&|| {
        let mut d = drctl_runbook::diagnostic::Diagnostics::new();
        let node = drctl_runbook::yaml::parse(&source, &mut d).expect("parses");
        drctl_runbook::raw::decode(node, &mut d);
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  of which: YAML parse {:.1} ms, raw decode {:.1} ms, compiler passes {:.1} ms (medians)",
        ms(parse),
        ms(decode.saturating_sub(parse)),
        ms(times[runs / 2].saturating_sub(decode)),
    );
    println!(
        "compile {steps} steps ({} KiB of YAML): median {:.1} ms, min {:.1} ms, max {:.1} ms over {runs} runs (budget 200 ms)",
        source.text.len() / 1024,
        ms(times[runs / 2]),
        ms(times[0]),
        ms(times[runs - 1]),
    );
}
