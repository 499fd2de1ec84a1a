//! The write-behind pool of an [`Applier`](crate::Applier): small regular files are
//! created, written, timed and closed by a few threads while the applying thread goes on
//! parsing the layer, so that both cores create files (the kernel's work of making
//! inodes and directory entries is most of an unpack of a small-file image).
//!
//! Order is kept where it matters:
//! * Jobs go to the lanes (one thread each) in turn. Two queued jobs never name the same
//!   path (a second entry for a queued name waits for a barrier first), so which lane
//!   runs a job first does not change the tree. (Sending each directory to one lane was
//!   measured slower: most files of a distribution live in a few large directories.)
//! * A job only creates a name that nothing earlier in the layer claimed, with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW` in a parent directory the applying thread resolved
//!   inside the root; a name already taken (by a lower layer) is handed back.
//! * Before anything that could see or change a queued name (a removal, a whiteout, a
//!   hardlink, an entry whose name exists, the end of the layer) the applying thread
//!   calls [`Pool::barrier`], which waits for every queued job and returns the names
//!   handed back, to be replaced in tar order by the applying thread itself.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

use rustix::fs::{self as rfs, Timespec, Timestamps};

use crate::root::ioe;

/// One small file to create.
pub(crate) struct Job {
    /// Queue order, to redo handed-back jobs in tar order.
    pub seq: u64,
    /// The parent directory (resolved inside the root).
    pub dir: Arc<OwnedFd>,
    /// The name in it.
    pub name: Vec<u8>,
    /// Final permission bits (created with them; the caller checked umask and set-ID).
    pub mode: u32,
    /// The content.
    pub data: Vec<u8>,
    /// Modification (and access) time.
    pub mtime: Timespec,
    /// The entry's name in the tar, for errors.
    pub raw: Vec<u8>,
}

/// The first failure of a lane: the tar name and the error.
pub(crate) type Failure = (Vec<u8>, io::Error);

#[derive(Default)]
struct Shared {
    pending: Mutex<usize>,
    idle: Condvar,
    failed: Mutex<Option<Failure>>,
    taken: Mutex<Vec<Job>>,
}

/// Jobs handed to a lane at once: one wake-up of the lane per batch instead of per file
/// (a pull of a 20,000-file layer made 30,000 futex calls handing files over one by one).
const BATCH_JOBS: usize = 16;
/// Content bytes that close a batch early, so big files do not wait behind a batch.
const BATCH_BYTES: usize = 512 << 10;

/// The applying thread's side.
pub(crate) struct Pool {
    lanes: Vec<SyncSender<Vec<Job>>>,
    shared: Arc<Shared>,
    seq: u64,
    /// The batch being filled, its content bytes, and the lane it goes to.
    batch: Vec<Job>,
    batch_bytes: usize,
    lane: usize,
}

/// One lane's receiving side, for [`run_lane`].
pub(crate) struct Lane {
    rx: Receiver<Vec<Job>>,
    shared: Arc<Shared>,
}

impl Pool {
    /// A pool of `lanes` lanes, each holding at most `depth` queued jobs.
    pub fn new(lanes: usize, depth: usize) -> (Pool, Vec<Lane>) {
        let shared = Arc::new(Shared::default());
        let mut txs = Vec::new();
        let mut rxs = Vec::new();
        for _ in 0..lanes.max(1) {
            let (tx, rx) = sync_channel(depth);
            txs.push(tx);
            rxs.push(Lane {
                rx,
                shared: shared.clone(),
            });
        }
        (
            Pool {
                lanes: txs,
                shared,
                seq: 0,
                batch: Vec::with_capacity(BATCH_JOBS),
                batch_bytes: 0,
                lane: 0,
            },
            rxs,
        )
    }

    /// Queues a job; batches go to the lanes in turn.
    pub fn send(&mut self, mut job: Job) {
        self.seq += 1;
        job.seq = self.seq;
        self.batch_bytes += job.data.len();
        self.batch.push(job);
        if self.batch.len() >= BATCH_JOBS || self.batch_bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Hands the batch being filled to its lane.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_JOBS));
        self.batch_bytes = 0;
        let n = batch.len();
        let lane = self.lane;
        self.lane = (self.lane + 1) % self.lanes.len();
        *lock(&self.shared.pending) += n;
        if let Err(e) = self.lanes[lane].send(batch) {
            // The lane is gone (it cannot be while the pool lives, but never hang on it).
            for _ in 0..n {
                self.done_one();
            }
            if let Some(job) = e.0.into_iter().next() {
                lock(&self.shared.failed)
                    .get_or_insert((job.raw, io::Error::other("the file writer stopped")));
            }
        }
    }

    fn done_one(&self) {
        let mut p = lock(&self.shared.pending);
        *p = p.saturating_sub(1);
        if *p == 0 {
            self.shared.idle.notify_all();
        }
    }

    /// Waits until every queued job is done. Returns the jobs whose name was already
    /// taken, in queue order, or the first failure.
    pub fn barrier(&mut self) -> Result<Vec<Job>, Failure> {
        self.flush();
        let mut p = lock(&self.shared.pending);
        while *p > 0 {
            p = self.shared.idle.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        drop(p);
        if let Some(f) = lock(&self.shared.failed).take() {
            return Err(f);
        }
        let mut taken = std::mem::take(&mut *lock(&self.shared.taken));
        taken.sort_by_key(|j| j.seq);
        Ok(taken)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A lane's thread: runs its jobs until the pool is dropped. After a failure it only
/// drains its queue (so a barrier never waits forever).
pub(crate) fn run_lane(lane: Lane) {
    for batch in lane.rx.iter() {
        for job in batch {
            if lock(&lane.shared.failed).is_none() {
                match create(&job) {
                    Ok(true) => {}
                    Ok(false) => lock(&lane.shared.taken).push(job),
                    Err(e) => {
                        lock(&lane.shared.failed).get_or_insert((job.raw, e));
                    }
                }
            }
            let mut p = lock(&lane.shared.pending);
            *p = p.saturating_sub(1);
            if *p == 0 {
                lane.shared.idle.notify_all();
            }
        }
    }
}

/// Creates, writes, times and closes one file; false when the name is taken.
pub(crate) fn create(job: &Job) -> io::Result<bool> {
    let Some(mut f) = crate::root::create_file(&job.dir, &job.name, job.mode)? else {
        return Ok(false);
    };
    crate::apply::write_sparse_slice(&job.data, &mut f)?;
    rfs::futimens(
        &f,
        &Timestamps {
            last_access: job.mtime,
            last_modification: job.mtime,
        },
    )
    .map_err(ioe)?;
    Ok(true)
}
