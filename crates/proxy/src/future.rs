//! [`Either`]: one of two futures with the same output, without boxing either. The proxy's
//! layers answer most requests by calling the service inside them, and a few themselves (a
//! rate limit's 429) or with extra work (metrics): an enum keeps the common case free of an
//! allocation and of a move into it, per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// One of two futures (`future`: the one it is).
    #[project = EitherProj]
    // pin-project-lite takes no attribute on a variant's fields but #[pin], so `future` cannot
    // carry its doc comment: the enum's says what it is.
    #[allow(missing_docs)]
    #[derive(Debug)]
    pub enum Either<A, B> {
        /// The first.
        Left {
            #[pin]
            future: A,
        },
        /// The second.
        Right {
            #[pin]
            future: B,
        },
    }
}

impl<A, B> Either<A, B> {
    /// The first kind.
    pub fn left(future: A) -> Either<A, B> {
        Either::Left { future }
    }

    /// The second kind.
    pub fn right(future: B) -> Either<A, B> {
        Either::Right { future }
    }
}

impl<A, B> Future for Either<A, B>
where
    A: Future,
    B: Future<Output = A::Output>,
{
    type Output = A::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        match self.project() {
            EitherProj::Left { future } => future.poll(cx),
            EitherProj::Right { future } => future.poll(cx),
        }
    }
}
