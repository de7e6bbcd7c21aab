//! [`ResponseFuture`]: the inner service's future with the decision applied to its response, or
//! an answer ready at once. A named type, not a box: no allocation per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crossgate::server::Decision;
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
            decision: Decision,
            debug_value: Option<HeaderValue>,
        },
        Ready {
            response: Option<Response<B>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn forward(
        inner: F,
        decision: Decision,
        debug_value: Option<HeaderValue>,
    ) -> ResponseFuture<F, B> {
        ResponseFuture {
            state: State::Forward {
                inner,
                decision,
                debug_value,
            },
        }
    }

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
        match self.project().state.project() {
            StateProj::Forward {
                inner,
                decision,
                debug_value,
            } => {
                let mut response = std::task::ready!(inner.poll(cx))?;
                finish(response.headers_mut(), decision, debug_value.take());
                Poll::Ready(Ok(response))
            }
            StateProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after completion: a caller's bug, which futures may answer with
                // a panic; never reached from a request.
                None => panic!("crossgate_tower::ResponseFuture polled after completion"),
            },
        }
    }
}
