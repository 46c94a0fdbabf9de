//! Unit tests of `input`.

use super::*;
use crate::core::page::Cursor;
use crate::core::value::Value;

fn obj(members: Vec<(&str, Input)>) -> Input {
    Input::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

#[test]
fn json_refuses_what_json_cannot_hold() {
    assert!(obj(vec![("a", Input::Number(f64::NAN))])
        .to_json("metadata")
        .is_err());
    assert!(obj(vec![("f", Input::Unsupported("function"))])
        .to_json("metadata")
        .is_err());
    assert!(obj(vec![("__proto__", Input::Null)])
        .to_json("metadata")
        .is_err());
    assert!(Input::Date(f64::NAN).to_json("x").is_err());
    let mut deep = Input::Null;
    for _ in 0..100 {
        deep = Input::Array(vec![deep]);
    }
    assert!(deep.to_json("m").unwrap_err().message.contains("circular"));
    let ok = obj(vec![
        ("a", Input::Number(1.5)),
        ("u", Input::Undefined),
        ("d", Input::Date(0.0)),
    ])
    .to_json("m")
    .unwrap();
    assert_eq!(
        ok,
        serde_json::json!({"a": 1.5, "d": "1970-01-01T00:00:00.000Z"})
    );
}

#[test]
fn fields_check_types_and_keys() {
    let input = obj(vec![
        ("name", Input::Text("x".into())),
        ("n", Input::Number(2.5)),
        ("d", Input::Number(-1.0)),
    ]);
    let f = Fields::of(&input, "thing").unwrap();
    assert_eq!(f.text("name", 10).unwrap().as_deref(), Some("x"));
    assert!(f.text("name", 0).is_err());
    assert!(f.integer("n", 0, 10).is_err());
    assert_eq!(f.millis("n").unwrap(), Some(3));
    assert!(f.millis("d").is_err());
    assert!(f
        .required_text("missing", 10)
        .unwrap_err()
        .message
        .contains("thing.missing"));
    let err = f.only(&["name"]).unwrap_err();
    assert!(err.message.contains("unknown key 'n'") && err.message.contains("allowed: name"));
    assert!(Fields::of(&Input::Text("s".into()), "thing").is_err());
    assert!(Fields::of(&obj(vec![("__proto__", Input::Null)]), "thing").is_err());
    assert!(days_old(&Input::Number(1.5)).is_err());
    assert!(days_old(&Input::Text("36500 days' OR 1=1 --".into())).is_err());
    assert_eq!(days_old(&Input::Undefined).unwrap(), 30);
}

#[test]
fn timestamps_and_statuses() {
    assert_eq!(
        timestamp(&Input::Text("2026-01-01T00:00:00.000Z".into()), "t").unwrap(),
        Some(1_767_225_600_000)
    );
    assert!(timestamp(&Input::Text("1 hour".into()), "t").is_err());
    assert!(timestamp(&Input::Date(f64::NAN), "t").is_err());
    assert!(one_of(&Input::Text("done".into()), "status", &["pending"]).is_err());
}

#[test]
fn cursors_round_trip() {
    for key in [
        Value::Timestamp(1_767_225_600_000),
        Value::Int(5),
        Value::Float(2.5),
        Value::Text("a:b%c".into()),
        Value::Null,
    ] {
        let c = Cursor::encode(&[&key, &Value::Float(-0.25)], "id:1");
        assert_eq!(
            Cursor::decode(&c).unwrap(),
            Cursor {
                keys: vec![key, Value::Float(-0.25)],
                id: "id:1".into()
            }
        );
    }
    assert!(Cursor::decode("garbage").is_err());
    assert!(Cursor::decode("q1:x").is_err());
    assert!(Cursor::decode("n1:n2:x").unwrap().key().is_err());
}

#[test]
fn inputs_round_trip_through_the_journal_encoding() {
    use super::journaled::{decode, encode};
    let input = Input::Array(vec![
        Input::Undefined,
        Input::Null,
        Input::Bool(true),
        Input::Number(1.5),
        Input::Number(f64::INFINITY),
        Input::Text("$u".into()),
        Input::Date(1_767_225_600_123.0),
        Input::Object(vec![
            ("$o".into(), Input::Number(1.0)),
            ("b".into(), Input::Object(vec![])),
            ("a".into(), Input::Unsupported("function")),
        ]),
    ]);
    let back = decode(&serde_json::from_str(&encode(&input).to_string()).unwrap());
    assert_eq!(back, input);
    assert!(matches!(decode(&encode(&Input::Number(f64::NAN))), Input::Number(n) if n.is_nan()));
}

#[test]
fn whole_numbers_stay_integers_in_json() {
    let data = Input::Object(vec![
        ("seq".into(), Input::Number(3477.0)),
        ("half".into(), Input::Number(0.5)),
        ("big".into(), Input::Number(1e20)),
        ("negative".into(), Input::Number(-12.0)),
    ]);
    assert_eq!(
        data.to_json("data").unwrap().to_string(),
        r#"{"big":1e+20,"half":0.5,"negative":-12,"seq":3477}"#
    );
}
