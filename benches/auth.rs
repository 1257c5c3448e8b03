//! Auth-chain verification cost (criterion), in one run:
//! - Plaza 3-link verify, cold (two recoveries) and warm (delegation cached: one);
//! - `dcl-crypto` 0.2.2 (Decentraland's Rust verifier) on the same chain;
//! - one bare libsecp256k1 recovery (the floor) and one k256 recovery.
//!
//! `cargo bench --bench auth` uses the crate's default backend (libsecp256k1, feature
//! `secp256k1`); `cargo bench --bench auth --no-default-features` measures k256.

use criterion::{criterion_group, criterion_main, Criterion};
use plaza::auth::DelegationCache;
use plaza_protocol::auth::{
    crypto, verify_chain, ContractMode, EphemeralIdentity, Policy, VerifyOptions, Wallet,
};
use std::hint::black_box;

const PAYLOAD: &str = "get:/v1/ws:1750000000000:{}";

fn chain() -> (EphemeralIdentity, serde_json::Value) {
    let owner = Wallet::from_private_key_hex(
        "0xdcad62a4ae3f497fe0f1b0df6132b08390adaaa0fda993a093253fc17426c704",
    )
    .expect("fixed key");
    let eph = Wallet::from_private_key_hex(
        "0x0ed1a2851f5e2b53bd1c1cf70d882b28085528f2a8496b8ab6ab9f3fd44971f7",
    )
    .expect("fixed key");
    let id = EphemeralIdentity::new(&owner, eph, 4_102_358_400_000);
    let value = serde_json::to_value(id.sign_payload(PAYLOAD)).expect("json");
    (id, value)
}

fn bench(c: &mut Criterion) {
    let (_, value) = chain();
    let opts = VerifyOptions {
        policy: Policy::Strict,
        now_ms: 1_750_000_000_000,
        contracts: ContractMode::Refuse,
    };
    let mut g = c.benchmark_group("auth_3_link");

    g.bench_function("plaza_cold", |b| {
        b.iter(|| verify_chain(black_box(&value), PAYLOAD, &opts, None).expect("valid"))
    });

    let cache = DelegationCache::new(1024);
    verify_chain(&value, PAYLOAD, &opts, Some(&cache)).expect("valid");
    g.bench_function("plaza_warm", |b| {
        b.iter(|| verify_chain(black_box(&value), PAYLOAD, &opts, Some(&cache)).expect("valid"))
    });

    let json = value.to_string();
    let dcl_chain = dcl_crypto::AuthChain::from_json(&json).expect("dcl-crypto parses the chain");
    let dcl = dcl_crypto::Authenticator::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    g.bench_function("dcl_crypto_0_2_2", |b| {
        b.iter(|| {
            rt.block_on(dcl.verify_signature(black_box(&dcl_chain), PAYLOAD))
                .map(|_| ())
                .expect("valid")
        })
    });
    g.finish();

    // One recovery: the floor (libsecp256k1) and the pure-Rust alternative (k256).
    let mut g = c.benchmark_group("recovery");
    let wallet = Wallet::random();
    let sig_text = wallet.sign_personal(PAYLOAD);
    let prehash = crypto::personal_message_hash(PAYLOAD);
    let sig = crypto::RecoverableSig::from_text(&sig_text).expect("sig");
    let secp_sig = secp256k1::ecdsa::RecoverableSignature::from_compact(
        &sig.rs,
        secp256k1::ecdsa::RecoveryId::try_from(i32::from(sig.rec)).expect("rec id"),
    )
    .expect("compact");
    let msg = secp256k1::Message::from_digest(prehash);
    g.bench_function("libsecp256k1_floor", |b| {
        b.iter(|| black_box(&secp_sig).recover(msg).expect("recovers"))
    });
    let k256_sig = k256::ecdsa::Signature::from_slice(&sig.rs).expect("sig");
    let k256_rec = k256::ecdsa::RecoveryId::new(sig.rec == 1, false);
    g.bench_function("k256", |b| {
        b.iter(|| {
            k256::ecdsa::VerifyingKey::recover_from_prehash(
                black_box(&prehash),
                &k256_sig,
                k256_rec,
            )
            .expect("ok")
        })
    });
    g.bench_function("plaza_backend", |b| {
        b.iter(|| crypto::recover_address(black_box(&prehash), &sig).expect("ok"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
