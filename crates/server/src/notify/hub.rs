//! Per-key fan-out: every subscriber of a key gets what is sent to that key. Used for a user's
//! live notifications and for a session's end. Channels are bounded broadcasts; a subscriber
//! that falls behind learns it (`Lagged`) and catches up from the database instead.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

/// Channels by key, created on first subscription and removed with the last subscriber.
#[derive(Debug)]
pub struct Hub<K, V> {
    channels: Mutex<HashMap<K, broadcast::Sender<V>>>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> Hub<K, V> {
    /// A hub whose channels hold `capacity` items per key.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self { channels: Mutex::new(HashMap::new()), capacity: capacity.max(1) })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, broadcast::Sender<V>>> {
        // The map stays consistent whatever panicked while holding the lock (single inserts and
        // removes), so a poisoned lock is safe to use.
        self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscribes to `key`: everything sent to it from now on.
    pub fn subscribe(self: &Arc<Self>, key: K) -> Subscription<K, V> {
        let rx = self.lock().entry(key.clone()).or_insert_with(|| broadcast::channel(self.capacity).0).subscribe();
        Subscription { hub: Arc::clone(self), key, rx: Some(rx) }
    }

    /// Sends `value` to the subscribers of `key`; returns how many there were. Never waits.
    pub fn send(&self, key: &K, value: V) -> usize {
        self.lock().get(key).and_then(|tx| tx.send(value).ok()).unwrap_or(0)
    }

    /// Keys with at least one subscriber.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One subscriber; unsubscribes on drop.
#[derive(Debug)]
pub struct Subscription<K: Eq + Hash + Clone, V: Clone> {
    hub: Arc<Hub<K, V>>,
    key: K,
    rx: Option<broadcast::Receiver<V>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Subscription<K, V> {
    /// The next value; `Lagged(n)` when `n` were missed, `Closed` never while subscribed.
    pub async fn recv(&mut self) -> Result<V, broadcast::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Drop for Subscription<K, V> {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut channels = self.hub.lock();
        if channels.get(&self.key).is_some_and(|tx| tx.receiver_count() == 0) {
            channels.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_their_key_only_and_leave_no_channel_behind() {
        let hub: Arc<Hub<i64, u32>> = Hub::new(4);
        let mut one = hub.subscribe(1);
        let _two = hub.subscribe(2);
        assert_eq!(hub.send(&1, 7), 1, "one subscriber of key 1");
        assert_eq!(one.recv().await.ok(), Some(7), "the value sent to key 1 arrives");
        assert_eq!(hub.send(&3, 9), 0, "nobody listens to key 3");
        drop(one);
        drop(_two);
        assert!(hub.is_empty(), "channels are removed with their last subscriber");
    }
}
