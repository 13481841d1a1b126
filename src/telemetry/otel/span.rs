//! A request's trace as the proxy fills it: its context (ids, sampling, what the client sent),
//! the attempts it made upstream, and the plain description of its server span. Nothing here
//! knows of Pingora, routes or providers: the proxy describes, the exporter encodes.

use super::context::{format_traceparent, new_span_id, SpanId, TraceId};

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(n.min(i64::MAX as u64) as i64)
    }
}

impl From<u16> for Value {
    fn from(n: u16) -> Value {
        Value::Int(n.into())
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Int(n.into())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Double(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

/// Semantic-convention names are static; so are Tollgate's own.
pub type Attr = (&'static str, Value);

/// How the trace goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `[otel]` is on: spans are made, and each attempt sends its own span as the parent.
    Export,
    /// `[otel]` is off and the client sent a valid `traceparent`: it goes on unchanged.
    PassThrough(String),
}

/// One request to an upstream target or an LLM deployment: a child span of kind CLIENT.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub span_id: SpanId,
    pub name: String,
    pub start_unix_ns: u64,
    /// 0 while the attempt is under way.
    pub end_unix_ns: u64,
    pub attrs: Vec<Attr>,
    /// The upstream's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong (`error.type`), when something did.
    pub error: Option<String>,
}

/// One request's trace, kept on its context from admission to the logging phase.
#[derive(Debug, Clone)]
pub struct Trace {
    pub trace_id: TraceId,
    /// The server span's own id.
    pub span_id: SpanId,
    /// The client's span, when it sent a valid `traceparent`.
    pub parent: Option<SpanId>,
    pub sampled: bool,
    pub tracestate: Option<String>,
    pub mode: Mode,
    pub start_unix_ns: u64,
    pub attempts: Vec<Attempt>,
}

impl Trace {
    /// Whether spans are being recorded (export on and sampled): describing them costs
    /// allocations, so callers check first.
    pub fn recording(&self) -> bool {
        self.sampled && self.mode == Mode::Export
    }

    /// Starts an attempt at `now` (closing one still open) and returns the `traceparent` the
    /// upstream is to get: the attempt's own span as parent, or the client's header unchanged
    /// when export is off. `describe` gives the span's name and attributes; it runs only when
    /// recording.
    pub fn begin_attempt(
        &mut self,
        now_unix_ns: u64,
        describe: impl FnOnce() -> (String, Vec<Attr>),
    ) -> String {
        if let Mode::PassThrough(header) = &self.mode {
            return header.clone();
        }
        self.end_attempt(now_unix_ns, None, None);
        let span_id = new_span_id();
        if self.recording() {
            let (name, attrs) = describe();
            self.attempts.push(Attempt {
                span_id,
                name,
                start_unix_ns: now_unix_ns,
                end_unix_ns: 0,
                attrs,
                status: None,
                error: None,
            });
        }
        format_traceparent(&self.trace_id, &span_id, self.sampled)
    }

    /// The `traceparent` of the attempt under way (or the pass-through header).
    pub fn current_traceparent(&self) -> Option<String> {
        match &self.mode {
            Mode::PassThrough(h) => Some(h.clone()),
            Mode::Export => {
                let span = self.attempts.last().map_or(self.span_id, |a| a.span_id);
                Some(format_traceparent(&self.trace_id, &span, self.sampled))
            }
        }
    }

    /// Notes the upstream's status on the attempt under way (it ends later).
    pub fn answered(&mut self, status: u16) {
        if let Some(a) = self.open() {
            a.status = Some(status);
        }
    }

    /// Ends the attempt under way, if any, with what is known of it.
    pub fn end_attempt(&mut self, now_unix_ns: u64, status: Option<u16>, error: Option<String>) {
        if let Some(a) = self.open() {
            a.end_unix_ns = now_unix_ns.max(a.start_unix_ns);
            a.status = a.status.or(status);
            if a.error.is_none() {
                a.error = error;
            }
        }
    }

    fn open(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut().filter(|a| a.end_unix_ns == 0)
    }
}

/// The server span's description, made by the proxy in the logging phase.
#[derive(Debug, Clone)]
pub struct RequestSpan {
    pub name: String,
    pub end_unix_ns: u64,
    pub attrs: Vec<Attr>,
    /// Status ERROR (a 5xx, or no answer), with this message.
    pub error: Option<String>,
}

/// A finished request, handed to the exporter.
#[derive(Debug)]
pub struct Finished {
    pub trace: Box<Trace>,
    pub span: RequestSpan,
    /// Export the spans (sampled) and/or a log record (`logs = true`).
    pub spans: bool,
    pub log: bool,
}

impl Finished {
    /// Spans and log records it carries, as the queue counts them.
    pub fn items(&self) -> usize {
        let spans = if self.spans {
            1 + self.trace.attempts.len()
        } else {
            0
        };
        spans + usize::from(self.log)
    }
}
