//! Cost of grouping one 40-frame Python exception event.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use errata::event::group::{GroupingRules, group};
use serde_json::{Value, json};

fn python_event() -> Value {
    let frames: Vec<Value> = (0..40)
        .map(|i| {
            let in_app = i % 3 == 0;
            json!({
                "function": format!("handler_{i}"),
                "module": if in_app { format!("app.views.part{i}") } else { format!("django.core.handlers.h{i}") },
                "filename": format!("app/views/part{i}.py"),
                "abs_path": format!("/srv/app/views/part{i}.py"),
                "lineno": 10 + i,
                "context_line": "    return self.get_response(request)",
                "in_app": in_app,
                "vars": {"request": "<WSGIRequest>", "i": i},
            })
        })
        .collect();
    json!({
        "event_id": "0123456789abcdef0123456789abcdef",
        "platform": "python",
        "level": "error",
        "transaction": "/orders/{id}",
        "exception": {"values": [{
            "type": "ValueError",
            "value": "order 9001 not found for user 42",
            "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": frames},
        }]},
    })
}

fn bench_group(c: &mut Criterion) {
    let event = errata::event::json::Value::from(python_event());
    let rules = GroupingRules::default();
    c.bench_function("group python 40 frames", |b| {
        b.iter(|| group(black_box(&event), black_box(&rules)))
    });
}

criterion_group!(benches, bench_group);
criterion_main!(benches);
