//! MQTT against a real broker: Debian's `mosquitto`, started here on a free
//! local port (`.ci/run` installs it). Without it the tests fail loudly.

use crate::device_api::{heartbeat, now};
use crate::helpers::{spawn_app_with, TestApp};
use reqwest::StatusCode;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A mosquitto process on 127.0.0.1:`port`, killed on drop.
struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

fn mosquitto_binary() -> String {
    for candidate in ["mosquitto", "/usr/sbin/mosquitto"] {
        if Command::new(candidate)
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return candidate.to_owned();
        }
    }
    panic!("mosquitto is not installed: apt-get install mosquitto (.ci/run does this)");
}

impl Broker {
    async fn start(port: Option<u16>) -> Self {
        let port = match port {
            Some(p) => p,
            None => std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .expect("write config");
        let broker = Self {
            child: Command::new(mosquitto_binary())
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start mosquitto"),
            port,
            _dir: dir,
        };
        for _ in 0..250 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return broker;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Dropping the broker kills and reaps the process.
        panic!("mosquitto did not listen on port {port}");
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a subscriber saw: the last payload and retain flag per topic.
struct Watcher {
    rx: tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>, bool)>,
    seen: HashMap<String, (Value, bool)>,
    _task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Subscribes to everything; returns once the subscription is acknowledged.
    async fn start(port: u16) -> Self {
        let mut opts = MqttOptions::new(
            format!("watcher-{}", uuid::Uuid::new_v4().simple()),
            "127.0.0.1",
            port,
        );
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(opts, 100);
        client
            .subscribe("#", QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let _client = client;
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec(), p.retain));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("subscribed within 10 s")
            .expect("watcher");
        Self {
            rx,
            seen: HashMap::new(),
            _task: task,
        }
    }

    /// Waits until `topic` carries a payload for which `check` holds.
    async fn wait_for(&mut self, topic: &str, check: impl Fn(&Value) -> bool) -> (Value, bool) {
        if let Some((v, r)) = self.seen.get(topic) {
            if check(v) {
                return (v.clone(), *r);
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{topic} never matched; seen: {:?}",
                        self.seen.keys().collect::<Vec<_>>()
                    )
                })
                .expect("watcher channel");
            let (t, payload, retain) = got;
            let value = serde_json::from_slice(&payload)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).into_owned()));
            self.seen.insert(t.clone(), (value.clone(), retain));
            if t == topic && check(&value) {
                return (value, retain);
            }
        }
    }
}

/// Waits until every MQTT message in the outbox went to the broker.
async fn mqtt_sent(app: &TestApp) {
    for _ in 0..500 {
        let mut conn = app.app.db.read().await.expect("conn");
        let rows = openlatch::storage::outbox::list(&mut conn, Some("mqtt"), 10_000)
            .await
            .expect("outbox");
        if !rows.is_empty() && rows.iter().all(|r| r.state == "delivered") {
            return;
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("MQTT messages were not all sent");
}

async fn app_on(broker: &Broker) -> TestApp {
    let url = broker.url();
    spawn_app_with(move |c| c.mqtt_url = Some(url.into())).await
}

#[tokio::test]
async fn doors_appear_in_home_assistant_with_state_battery_and_access_events() {
    let broker = Broker::start(None).await;
    let app = app_on(&broker).await;
    let (door_id, door) = app.device("front").await;
    let node = format!("openlatch_{}", door_id.replace('-', ""));
    let r = app
        .post("/device/heartbeat", &door, heartbeat(Some(80)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .post(
            "/device/events",
            &door,
            json!([{"uid": "04A1B2C3", "event": "access_granted", "timestamp": now() - 1}]),
        )
        .await;
    assert_eq!(r.body["accepted"], 1, "{:?}", r.body);
    mqtt_sent(&app).await;

    // A subscriber arriving now sees the retained discovery, state and battery.
    let mut w = Watcher::start(broker.port).await;
    let (status, retained) = w
        .wait_for("openlatch/status", |v| v.as_str() == Some("online"))
        .await;
    assert!(retained, "{status}");
    let (battery_cfg, retained) = w
        .wait_for(
            &format!("homeassistant/sensor/{node}/battery/config"),
            |_| true,
        )
        .await;
    assert!(retained);
    assert_eq!(battery_cfg["device_class"], "battery");
    assert_eq!(battery_cfg["unit_of_measurement"], "%");
    assert_eq!(battery_cfg["device"]["name"], "front");
    assert_eq!(
        battery_cfg["state_topic"],
        format!("openlatch/{door_id}/battery")
    );
    assert_eq!(battery_cfg["availability_topic"], "openlatch/status");
    let (online_cfg, _) = w
        .wait_for(
            &format!("homeassistant/binary_sensor/{node}/online/config"),
            |_| true,
        )
        .await;
    assert_eq!(online_cfg["device_class"], "connectivity");
    w.wait_for(
        &format!("homeassistant/sensor/{node}/last_access/config"),
        |_| true,
    )
    .await;
    let (state, retained) = w
        .wait_for(&format!("openlatch/{door_id}/state"), |v| {
            v["online"] == true
        })
        .await;
    assert!(retained);
    assert_eq!(state["allowlist_version"], 42);
    let (battery, retained) = w
        .wait_for(&format!("openlatch/{door_id}/battery"), |_| true)
        .await;
    assert!(retained);
    assert_eq!(battery, json!({"percent": 80, "critical": false}));
    let (last, retained) = w
        .wait_for(&format!("openlatch/{door_id}/last_access"), |_| true)
        .await;
    assert!(retained);
    assert_eq!(last["event"], "access_granted");
    assert_eq!(last["uid"], "04A1…", "UIDs are shortened");

    // Live events reach a subscriber, not retained.
    let r = app
        .post(
            "/device/events",
            &door,
            json!([{"uid": "0A0B0C0D", "event": "access_denied", "timestamp": now()}]),
        )
        .await;
    assert_eq!(r.body["accepted"], 1);
    let (ev, retained) = w
        .wait_for(&format!("openlatch/{door_id}/event"), |v| {
            v["event"] == "access_denied"
        })
        .await;
    assert!(!retained);
    assert_eq!(ev["uid"], "0A0B…");
}

#[tokio::test]
async fn the_server_survives_the_broker_going_away_and_coming_back() {
    let mut broker = Broker::start(None).await;
    let port = broker.port;
    let app = app_on(&broker).await;
    let (door_id, door) = app.device("front").await;
    let mut w = Watcher::start(port).await;
    w.wait_for("openlatch/status", |v| v.as_str() == Some("online"))
        .await;

    broker.stop();
    // Doors keep working while the broker is away; what happens waits in the outbox.
    let r = app
        .post(
            "/device/events",
            &door,
            json!([{"uid": "04A1B2C3", "event": "access_granted", "timestamp": now()}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["accepted"], 1);
    let r = app
        .post("/device/heartbeat", &door, heartbeat(Some(64)))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Same port, empty broker (no persistence): the server reconnects,
    // announces again and sends what waited.
    let broker = Broker::start(Some(port)).await;
    let mut w = Watcher::start(broker.port).await;
    w.wait_for("openlatch/status", |v| v.as_str() == Some("online"))
        .await;
    let (last, _) = w
        .wait_for(&format!("openlatch/{door_id}/last_access"), |v| {
            v["uid"] == "04A1…"
        })
        .await;
    assert_eq!(last["event"], "access_granted");
    w.wait_for(&format!("openlatch/{door_id}/battery"), |v| {
        v["percent"] == 64
    })
    .await;
    let node = format!("openlatch_{}", door_id.replace('-', ""));
    w.wait_for(
        &format!("homeassistant/sensor/{node}/battery/config"),
        |_| true,
    )
    .await;
    assert!(app
        .app
        .notifications
        .mqtt
        .as_ref()
        .is_some_and(|m| m.is_connected()));
}
