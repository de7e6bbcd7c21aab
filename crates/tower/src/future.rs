//! [`ResponseFuture`]: the inner service's future with the decision applied to its response, or
//! an answer ready at once. A named type, not a box: no allocation per request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crossgate::server::Pending;
use http::{HeaderValue, Response};
use pin_project_lite::pin_project;

use crate::service::finish;

pin_project! {
    /// The future of [`Cors`](crate::Cors)'s responses.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Forward {
            #[pin]
            inner: F,
            // What the response still needs, not the whole `Decision`, and the debug header
            // boxed (debug mode only): the future is moved with every request, so its size is
            // paid for on every answer, preflights included.
            pending: Pending,
            debug_value: Option<Box<HeaderValue>>,
            // Boxed too: recorded only when a layer outside asked for it (metrics).
            recorded: Option<Box<crate::Decided>>,
        },
        Ready {
            response: Option<Response<B>>,
        },
        Done,
    }
}

impl<F, B> ResponseFuture<F, B> {
    #[inline]
    pub(crate) fn forward(
        inner: F,
        pending: Pending,
        debug_value: Option<HeaderValue>,
        recorded: Option<crate::Decided>,
    ) -> ResponseFuture<F, B> {
        ResponseFuture {
            state: State::Forward {
                inner,
                pending,
                debug_value: debug_value.map(Box::new),
                recorded: recorded.map(Box::new),
            },
        }
    }

    #[inline]
    pub(crate) fn ready(response: Response<B>) -> ResponseFuture<F, B> {
        ResponseFuture {
            state: State::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let output = match state.as_mut().project() {
            StateProj::Forward {
                inner,
                pending,
                debug_value,
                recorded,
            } => match std::task::ready!(inner.poll(cx)) {
                Ok(mut response) => {
                    finish(
                        response.headers_mut(),
                        pending,
                        debug_value.take().map(|v| *v),
                    );
                    if let Some(recorded) = recorded.take() {
                        response.extensions_mut().insert(*recorded);
                    }
                    Ok(response)
                }
                Err(error) => Err(error),
            },
            StateProj::Ready { response } => match response.take() {
                Some(response) => Ok(response),
                None => done(),
            },
            StateProj::Done => done(),
        };
        state.set(State::Done);
        Poll::Ready(output)
    }
}

/// Polled again after it completed: a caller's bug, which futures may answer with a panic
/// (never reached from a request).
fn done() -> ! {
    panic!("crossgate_tower::ResponseFuture polled after completion")
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Forward { pending, .. } => {
                return f
                    .debug_struct("ResponseFuture::Forward")
                    .field("pending", pending)
                    .finish_non_exhaustive();
            }
            State::Ready { .. } => "Ready",
            State::Done => "Done",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}
