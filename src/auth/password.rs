//! Approver passwords: argon2id (PHC strings with their own salt and parameters).
//! Never logs or returns a password or a hash.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use subtle::ConstantTimeEq;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(hash.to_string())
}

/// Checks a password against a stored PHC string (parameters come from the string).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| hasher().verify_password(password.as_bytes(), &hash).is_ok())
}

/// [`verify_password`] with caller-owned argon2 memory: a hashing thread keeps one block buffer
/// for its lifetime instead of allocating (and the allocator keeping) 19 MiB per check.
fn verify_with_memory(password: &str, phc: &str, blocks: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else { return false };
    let Ok(version) = hash.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(stored) = Params::try_from(&hash) else { return false };
    let Ok(params) = Params::new(stored.m_cost(), stored.t_cost(), stored.p_cost(), Some(expected.len())) else {
        return false;
    };
    blocks.resize(params.block_count(), Block::default());
    let mut computed = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut computed,
        blocks.as_mut_slice(),
    );
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("countersign-dummy-password").unwrap_or_default())
}

/// Bounds concurrent password hashing: argon2id holds 19 MiB for ~30 ms of a core, so hashing
/// runs on one dedicated thread per core, a short queue waits for them, and anything beyond is
/// refused at once ([`HashingRefused::Busy`]) instead of piling up memory. Dedicated threads
/// rather than `spawn_blocking`: the blocking pool hands jobs to whichever of its many threads is
/// idle, and the allocator keeps a 19 MiB block per thread that ever hashed (measured: ~240 MB
/// after one burst); a fixed set of threads reuses the same few blocks.
#[derive(Debug, Clone)]
pub struct HashingGate {
    admitted: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

/// A password to check, the stored hash (none: an unknown user, checked against a dummy), the
/// admission permit (held until the hash is done, even if the caller gave up) and the reply.
type Job = (String, Option<String>, OwnedSemaphorePermit, oneshot::Sender<bool>);

#[derive(Debug, thiserror::Error)]
pub enum HashingRefused {
    #[error("every password hasher is busy and the queue is full")]
    Busy,
    #[error("the password hasher stopped")]
    Stopped,
}

impl HashingGate {
    /// `workers` threads hashing, `queue` more requests waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..workers {
            let receiver = receiver.clone();
            // Threads end when the last sender (the last clone of this gate) is dropped.
            let spawned = std::thread::Builder::new().name("password-hasher".into()).spawn(move || {
                let mut blocks = Vec::new();
                loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok((password, phc, permit, reply)) = job else { return };
                    // An unknown user is checked against a dummy hash: the same work, always false.
                    let verified = verify_with_memory(&password, phc.as_deref().unwrap_or(dummy_hash()), &mut blocks)
                        && phc.is_some();
                    drop(permit);
                    let _ = reply.send(verified);
                }
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password hashing thread");
            }
        }
        Self { admitted: Arc::new(Semaphore::new(workers + queue)), jobs }
    }

    /// One hasher per core and a queue of four per core (at ~30 ms a hash, under 150 ms of waiting).
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::new(cores, 4 * cores)
    }

    /// Checks `password` against `phc`, or against a dummy hash when there is none (an unknown
    /// user costs the same one evaluation).
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, HashingRefused> {
        let permit = self.admitted.clone().try_acquire_owned().map_err(|_| HashingRefused::Busy)?;
        let (reply, verified) = oneshot::channel();
        self.jobs.send((password, phc, permit, reply)).map_err(|_| HashingRefused::Stopped)?;
        verified.await.map_err(|_| HashingRefused::Stopped)
    }
}

/// A generated password: 20 characters from an alphabet without look-alikes (~114 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let phc = hash_password("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horse ", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
    }

    #[test]
    fn checking_with_reused_memory_agrees_with_the_plain_check() {
        let phc = hash_password("correct horse").expect("hash");
        let mut blocks = Vec::new();
        assert!(verify_with_memory("correct horse", &phc, &mut blocks));
        assert!(!verify_with_memory("correct horse ", &phc, &mut blocks));
        assert!(!verify_with_memory("correct horse", "not a phc string", &mut blocks));
        assert_eq!(blocks.len(), 19 * 1024, "one 19 MiB buffer, reused");
    }

    #[tokio::test]
    async fn a_full_hashing_gate_refuses_at_once_instead_of_queueing_without_bound() {
        let gate = HashingGate::new(1, 1);
        let phc = hash_password("correct horse").expect("hash");
        let attempts = (0..6).map(|_| gate.verify("correct horse".into(), Some(phc.clone())));
        let results = futures_util::future::join_all(attempts).await;
        let verified = results.iter().filter(|r| matches!(r, Ok(true))).count();
        let busy = results.iter().filter(|r| matches!(r, Err(HashingRefused::Busy))).count();
        assert_eq!((verified, busy), (2, 4), "one running and one queued are served, the rest refused");
        assert!(matches!(gate.verify("x".into(), None).await, Ok(false)), "the gate frees up again");
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
