//! Work spread over a few threads, results kept in order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` over `items` on up to `threads` threads, each taking the next item when it is free, the
/// costliest first (the columns differ widely in cost, and a long one taken last would leave the
/// other threads idle); results in the order of `items`.
pub(crate) fn in_parallel_costliest_first<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    cost: impl Fn(&T) -> usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_cached_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<R>>> = slots.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(slots.len()) {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let item = slots[i]
                        .lock()
                        .expect("not poisoned")
                        .take()
                        .expect("taken once");
                    *results[i].lock().expect("not poisoned") = Some(f(item));
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .expect("not poisoned")
                .expect("every item done")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costliest_first_keeps_the_order_of_results() {
        let out = in_parallel_costliest_first(
            (0..50).collect(),
            3,
            |i: &u64| (*i % 7) as usize,
            |i| i + 1,
        );
        assert_eq!(out, (1..51).collect::<Vec<_>>());
    }

    #[test]
    fn results_keep_the_order_of_items() {
        let out = in_parallel_costliest_first((0..100).collect(), 4, |_| 0, |i: u64| i * 2);
        assert_eq!(out, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(
            in_parallel_costliest_first(vec![3], 4, |_| 0, |i: u64| i + 1),
            [4]
        );
        assert!(in_parallel_costliest_first(Vec::<u64>::new(), 4, |_| 0, |i| i).is_empty());
    }
}
