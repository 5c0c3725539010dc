//! Property tests of the label grammar: `parse(display(x)) == x`, and no input panics.

use crate::labels::{Key, Label, PlainLabel, Prefix, Scheme, Setting, SettingsLabel};
use crate::spec::{Arch, Backend, Range};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,11}"
}

fn range() -> impl Strategy<Value = Range> {
    (1u32..64, 0u32..64).prop_map(|(min, extra)| Range {
        min,
        max: min + extra,
    })
}

fn setting(key: Key) -> BoxedStrategy<Setting> {
    let list = |s: &'static str| proptest::collection::vec(s, 1..4);
    match key {
        Key::Cpu => range().prop_map(Setting::Cpu).boxed(),
        Key::Ram => range().prop_map(Setting::Ram).boxed(),
        Key::Family => list("[a-z][a-z0-9]{0,4}").prop_map(Setting::Family).boxed(),
        Key::Type => list("[a-z][a-z0-9]{0,3}\\.[a-z0-9]{1,8}")
            .prop_map(Setting::Type)
            .boxed(),
        Key::Arch => prop_oneof![Just(Arch::Amd64), Just(Arch::Arm64)]
            .prop_map(Setting::Arch)
            .boxed(),
        Key::Disk => (1u32..=16384).prop_map(Setting::Disk).boxed(),
        Key::Spot => any::<bool>().prop_map(Setting::Spot).boxed(),
        Key::Public => any::<bool>().prop_map(Setting::Public).boxed(),
        Key::Backend => prop_oneof![Just(Backend::Ec2), Just(Backend::K8s), Just(Backend::Local)]
            .prop_map(Setting::Backend)
            .boxed(),
        Key::Pool => "[A-Za-z0-9._-]{1,10}".prop_map(Setting::Pool).boxed(),
        Key::Env => "[A-Za-z0-9._-]{1,10}".prop_map(Setting::Env).boxed(),
        Key::Region => "[a-z]{2}-[a-z]{3,7}-[0-9]"
            .prop_map(Setting::Region)
            .boxed(),
        Key::Image => "[A-Za-z0-9:@._=+-]{1,20}".prop_map(Setting::Image).boxed(),
    }
}

fn settings_label() -> impl Strategy<Value = Label> {
    let keys = proptest::sample::subsequence(Key::ALL.to_vec(), 0..=Key::ALL.len()).prop_shuffle();
    let values = keys.prop_flat_map(|keys| keys.into_iter().map(setting).collect::<Vec<_>>());
    let prefix = prop_oneof![Just(Prefix::Sortie), Just(Prefix::RunsFleet)];
    (
        prefix,
        proptest::option::of("[0-9]{1,12}|[a-z0-9_.-]{1,8}"),
        values,
    )
        .prop_filter_map(
            "runs-fleet needs a run id; a label needs a body",
            |(prefix, run_id, settings)| {
                let run_id = if prefix == Prefix::RunsFleet {
                    Some(run_id.unwrap_or_else(|| "1".into()))
                } else {
                    run_id
                };
                (run_id.is_some() || !settings.is_empty()).then_some(Label::Settings(
                    SettingsLabel {
                        prefix,
                        run_id,
                        settings,
                    },
                ))
            },
        )
}

fn plain_label() -> impl Strategy<Value = Label> {
    let scheme = prop_oneof![
        Just(None),
        Just(Some(Scheme::Host)),
        proptest::option::of("[a-z0-9./:@-]{1,30}")
            .prop_map(|image| Some(Scheme::Docker { image })),
    ];
    let named =
        (name(), scheme).prop_map(|(name, scheme)| Label::Plain(PlainLabel { name, scheme }));
    // Opaque labels: a colon followed by something that is not a scheme.
    let opaque = (name(), "[0-9a-f]{1,8}").prop_map(|(a, b)| {
        Label::Plain(PlainLabel {
            name: format!("{a}:{b}"),
            scheme: None,
        })
    });
    prop_oneof![named, opaque]
}

proptest! {
    #[test]
    fn parse_display_round_trips(label in prop_oneof![settings_label(), plain_label()]) {
        let text = label.to_string();
        prop_assert_eq!(Label::parse(&text), Ok(label), "{}", text);
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,40}", prefix in prop_oneof![Just(""), Just("sortie="), Just("runs-fleet=")]) {
        let text = format!("{prefix}{text}");
        if let Ok(label) = Label::parse(&text) {
            // Whatever parses, its display parses to the same value.
            prop_assert_eq!(Label::parse(&label.to_string()), Ok(label));
        }
    }

    #[test]
    fn settings_grammar_never_panics(body in "([a-z]{1,7}=[a-z0-9+.=:-]{0,8}/){0,5}[a-z]{0,7}=?[0-9+]{0,6}") {
        let _ = Label::parse(&format!("sortie={body}"));
    }
}
