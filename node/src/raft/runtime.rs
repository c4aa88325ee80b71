//! openraft's bundled `TokioRuntime` spawns tasks and arms timers on the real
//! tokio crate, which would slip past the simulator. This runtime goes through
//! our `tokio` dependency (madsim-tokio) instead, so raft's tasks, timers and
//! randomness run on whichever world the build selected and stay deterministic
//! under `--cfg madsim`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use openraft::async_runtime::TokioOneShotSender;
use openraft::{AsyncRuntime, OptionalSend, TokioInstant};

/// The [`AsyncRuntime`] every Drover raft node runs on.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct DroverRuntime;

impl AsyncRuntime for DroverRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    type Instant = TokioInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<T>;
    #[cfg(madsim)]
    type ThreadLocalRng = madsim::rand::GlobalRng;
    #[cfg(not(madsim))]
    type ThreadLocalRng = rand::rngs::ThreadRng;
    type OneshotSender<T: OptionalSend> = TokioOneShotSender<T>;
    type OneshotReceiverError = tokio::sync::oneshot::error::RecvError;
    type OneshotReceiver<T: OptionalSend> = tokio::sync::oneshot::Receiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        tokio::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        // madsim's timers take `std`'s `Instant`. Its libc clock hook also
        // drives real tokio's `Instant::now`, so the two agree in simulation.
        #[cfg(madsim)]
        let deadline = deadline.into_std();
        tokio::time::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout::new(future, Self::sleep(duration))
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout::new(future, Self::sleep_until(deadline))
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        #[cfg(madsim)]
        return madsim::rand::thread_rng();
        #[cfg(not(madsim))]
        return rand::thread_rng();
    }

    fn oneshot<T: OptionalSend>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (TokioOneShotSender(tx), rx)
    }
}

/// A future with a deadline.
///
/// madsim's `timeout` future cannot be named and it has no `timeout_at`, so
/// both worlds share this one. Boxing both halves makes it `Unpin`, which lets
/// us poll them without unsafe pin projection.
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<F> Timeout<F> {
    fn new(future: F, sleep: tokio::time::Sleep) -> Self {
        Self {
            future: Box::pin(future),
            sleep: Box::pin(sleep),
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The future goes first: one that is ready at the deadline still wins.
        if let Poll::Ready(output) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        self.sleep.as_mut().poll(cx).map(|()| Err(Elapsed))
    }
}

/// The deadline of a [`Timeout`] passed first. Ours because tokio's `Elapsed`
/// cannot be constructed outside tokio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}
