//! Many helpers at once, as when compose, buildx or a CI runner pulls in parallel: a cold herd
//! shares one API call per region and identity, and racing writers lose no cache entry.
//! The figures printed (with `--nocapture`) are reported in docs/performance.md; nothing here asserts a
//! duration.

use crate::support;

use std::collections::BTreeSet;
use std::process::Output;
use std::time::{Duration, Instant};
use support::*;

const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
    "sa-east-1",
];

fn host(region: &str) -> String {
    format!("123456789012.dkr.ecr.{region}.amazonaws.com")
}

/// Starts every `(command, stdin)` at once and waits for all of them.
fn run_all(jobs: Vec<(std::process::Command, String)>) -> Vec<Output> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(jobs.len()));
    let threads: Vec<_> = jobs
        .into_iter()
        .map(|(cmd, input)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                run_bounded(cmd, input.as_bytes(), Duration::from_secs(60))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn secret_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout={} stderr={}",
        stdout(out),
        stderr(out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    v["Secret"].as_str().expect("a Secret").to_string()
}

#[test]
fn a_cold_herd_of_64_makes_one_call() {
    let env = TestEnv::new();
    env.aws.set_delay(Duration::from_millis(500));
    let started = Instant::now();
    let outputs = run_all(
        (0..64)
            .map(|_| (env.command(&["get"]), host("us-west-2")))
            .collect(),
    );
    let elapsed = started.elapsed();
    let secrets: BTreeSet<String> = outputs.iter().map(secret_of).collect();
    assert_eq!(outputs.len(), 64);
    assert_eq!(secrets.len(), 1, "the herd got different tokens");
    assert_eq!(env.aws.count("ecr"), 1);
    assert_eq!(env.aws.total(), 1);
    eprintln!(
        "64 concurrent cold gets, fake answering after 0.5 s: 1 API call, 1 token, {elapsed:.2?} wall"
    );
}

#[test]
fn eight_regions_by_eight_processes_lose_no_entry() {
    let env = TestEnv::new();
    env.aws.set_delay(Duration::from_millis(500));
    let started = Instant::now();
    let jobs = REGIONS
        .iter()
        .flat_map(|r| (0..8).map(|_| (env.command(&["get"]), host(r))))
        .collect();
    let outputs = run_all(jobs);
    let elapsed = started.elapsed();
    for (i, region) in REGIONS.iter().enumerate() {
        let secrets: BTreeSet<String> = outputs[i * 8..(i + 1) * 8].iter().map(secret_of).collect();
        assert_eq!(secrets.len(), 1, "{region}: several tokens");
    }
    let regions: BTreeSet<String> = env.aws.calls().into_iter().map(|c| c.region).collect();
    assert_eq!(env.aws.count("ecr"), 8);
    assert_eq!(regions.len(), 8, "{regions:?}");

    // Afterwards every region is a hit: no racing writer dropped another's entry.
    let file = env.cache_json();
    assert_eq!(file["entries"].as_object().unwrap().len(), 8, "{file}");
    let hits = run_all(
        REGIONS
            .iter()
            .map(|r| (env.command(&["get"]), host(r)))
            .collect(),
    );
    for (i, (out, region)) in hits.iter().zip(REGIONS).enumerate() {
        assert_eq!(
            secret_of(out),
            secret_of(&outputs[i * 8]),
            "{region}: a new token"
        );
    }
    assert_eq!(env.aws.total(), 8, "a region was refetched");
    eprintln!("8 regions x 8 concurrent processes: 8 API calls, {elapsed:.2?} wall; then 8 hits");
}

/// Not a test of speed: reports what a hit and a miss cost here, for the README.
#[test]
fn hit_and_miss_figures() {
    let env = TestEnv::new();
    let started = Instant::now();
    env.get_ok(&host("us-west-2"));
    let miss = started.elapsed();
    let n = 50;
    let started = Instant::now();
    for _ in 0..n {
        env.get_ok(&host("us-west-2"));
    }
    let hit = started.elapsed() / n;
    assert_eq!(env.aws.total(), 1);
    eprintln!(
        "one cold get against the local fake: {miss:.2?}; one cache hit (mean of {n}, sequential, including process start): {hit:.2?}"
    );
}
