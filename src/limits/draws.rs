//! The draws of one request: which buckets it takes from, at which rate. The route's own
//! limits come first, then the limits its key carries (`auth::plans`), found by name in the
//! snapshot's index.

use super::vocab::{bucket, Caller, Draw};
use crate::auth::plans::Attached;
use crate::config::LimitSpec;
use std::collections::HashMap;
use std::sync::Arc;

/// The snapshot's limits by name, made once per snapshot: how a key's limits, kept by name,
/// find their spec at request time.
pub type Index = HashMap<Arc<str>, usize, ahash::RandomState>;

pub fn index(specs: &[LimitSpec]) -> Index {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| (Arc::from(s.name.as_str()), i))
        .collect()
}

/// The draws of one request: the route's `limits` (indexes into `specs`) at their own rate,
/// then the key's `attached` limits of the same kind, found by name in `index`. A limit both
/// name is drawn once, at the key's rate. A name the snapshot no longer has (a reload removed
/// it), or that now counts something else, is skipped: the directory's next build says so.
pub fn draws(
    specs: &[LimitSpec],
    index: &Index,
    limits: &[usize],
    attached: &[Attached],
    caller: &Caller,
) -> Vec<Draw> {
    let mut out: Vec<Draw> = Vec::with_capacity(limits.len() + attached.len());
    out.extend(limits.iter().map(|&i| Draw::of(specs, i, caller)));
    for a in attached {
        let Some(&i) = index.get(&a.name) else {
            continue;
        };
        let spec = &specs[i];
        if spec.counts != a.counts {
            continue;
        }
        match out.iter_mut().find(|d| d.limit == i) {
            Some(d) => d.rate = a.rate,
            None => out.push(Draw {
                limit: i,
                rate: a.rate,
                key: bucket(spec, caller),
            }),
        }
    }
    out
}
