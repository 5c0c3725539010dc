//! Property tests: no panics on any input, and agreement with act's regex (see `reference.rs`).

use proptest::prelude::*;

use super::super::{nfa, Pattern, PatternList};
use super::reference::{reference, Reference};

/// The characters that exercise every branch of act's translation.
const PATTERN_ALPHABET: &[char] = &[
    'a', 'b', 'A', 'Z', '0', '9', '/', '*', '?', '+', '[', ']', '-', '!', '.', '\\', '^', 'é',
];
const INPUT_ALPHABET: &[char] = &[
    'a', 'b', 'A', 'Z', '0', '/', '.', '-', '!', '[', ']', '\\', 'é', '\n',
];

fn string_over(alphabet: &'static [char], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(alphabet), 0..=max)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Whole constructs, so that classes, ranges and `**/` appear far more often than by chance.
const PATTERN_TOKENS: &[&str] = &[
    "a", "b", "/", "*", "**", "**/", "?", "+", "[ab]", "[a-b]", "[A-Z0-9]", "[a-c-e]", "[^a]",
    "\\*", "\\[", "!", ".", "-", "]", "é", "[A-]", "[Z-\\]",
];

fn pattern_source() -> impl Strategy<Value = String> {
    prop_oneof![
        string_over(PATTERN_ALPHABET, 10),
        proptest::collection::vec(proptest::sample::select(PATTERN_TOKENS), 0..=6)
            .prop_map(|tokens| tokens.concat()),
    ]
}

/// Inputs that have a fair chance of matching: the pattern with its operators dropped, plus
/// random strings.
fn inputs_for(pattern: &str, random: Vec<String>) -> Vec<String> {
    let plain: String = pattern
        .chars()
        .filter(|c| !"*?+[]\\!".contains(*c))
        .collect();
    let mut inputs = random;
    inputs.push(plain.clone());
    inputs.push(plain.replace('-', ""));
    inputs.push(String::new());
    inputs
}

/// Checks the bit-parallel and the sparse simulation against each other on one input.
fn simulations_agree(p: &Pattern, input: &str) -> bool {
    match &p.program {
        nfa::Program::Nfa(n) => n.is_match_sparse(input) == p.is_match(input),
        nfa::Program::Literal(_) => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn agrees_with_acts_regex(
        source in pattern_source(),
        random in proptest::collection::vec(string_over(INPUT_ALPHABET, 8), 6),
    ) {
        let ours = Pattern::new(&source);
        match reference(&source) {
            Reference::Diverges => {}
            Reference::Invalid => prop_assert!(ours.is_err(), "act refuses {source:?}, we accept"),
            Reference::Compiled { negative, regex } => {
                let p = match ours {
                    Ok(p) => p,
                    Err(e) => return Err(TestCaseError::fail(format!("act accepts {source:?} ({regex}), we refuse: {e}"))),
                };
                prop_assert_eq!(p.is_negative(), negative);
                for input in inputs_for(&source, random) {
                    prop_assert_eq!(p.is_match(&input), regex.is_match(&input),
                        "{:?} (act: {}) on {:?}", source, regex.as_str(), input);
                    prop_assert!(simulations_agree(&p, &input), "{:?} on {:?}", source, input);
                }
            }
        }
    }

    #[test]
    fn never_panics_on_arbitrary_text(source in any::<String>(), input in any::<String>()) {
        if let Ok(p) = Pattern::new(&source) {
            let _ = p.is_match(&input);
            prop_assert!(simulations_agree(&p, &input));
        }
        let _ = PatternList::new(&[source.as_str(), "!a*"]).map(|l| {
            (l.github_selects(&input), l.act_skip(&[&input]), l.act_filter(&[&input]))
        });
    }

    #[test]
    fn never_panics_on_long_operator_soup(
        source in string_over(PATTERN_ALPHABET, 200),
        input in string_over(INPUT_ALPHABET, 400),
    ) {
        if let Ok(p) = Pattern::new(&source) {
            prop_assert!(simulations_agree(&p, &input));
        }
    }

    /// The list rules, against their definitions in act's `Skip`/`Filter` loops.
    #[test]
    fn list_rules_match_acts_loops(
        sources in proptest::collection::vec(string_over(&['a', 'b', '/', '*', '!'], 4), 0..4),
        inputs in proptest::collection::vec(string_over(&['a', 'b', '/'], 4), 0..4),
    ) {
        let Ok(list) = PatternList::new(&sources) else { return Ok(()) };
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        // act's Skip: skip unless some input's last matching pattern is positive.
        let mut skip = !list.patterns().is_empty();
        for input in &inputs {
            let mut matched = false;
            for p in list.patterns() {
                if p.is_match(input) {
                    matched = !p.is_negative();
                }
            }
            if matched {
                skip = false;
            }
        }
        prop_assert_eq!(list.act_skip(&inputs), skip);
        // act's Filter, loop for loop: `if item.Regex.MatchString(file) == !item.Negative`.
        let mut filter = !list.patterns().is_empty();
        for input in &inputs {
            let mut ignored = false;
            for p in list.patterns() {
                // `match == !negative`, which for booleans is `match != negative`.
                if p.is_match(input) != p.is_negative() {
                    ignored = true;
                    break;
                }
            }
            if !ignored {
                filter = false;
                break;
            }
        }
        prop_assert_eq!(list.act_filter(&inputs), filter);
    }
}

/// The generator reaches every outcome often: most patterns compile, some are refused, few
/// diverge, and compiled ones match some of their inputs.
#[test]
fn generator_covers_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut compiled, mut invalid, mut diverges, mut matched) = (0, 0, 0, 0);
    for _ in 0..2000 {
        let Ok(tree) = pattern_source().new_tree(&mut runner) else {
            continue;
        };
        let source = tree.current();
        match reference(&source) {
            Reference::Compiled { regex, .. } => {
                compiled += 1;
                matched += usize::from(
                    inputs_for(&source, vec![])
                        .iter()
                        .any(|i| regex.is_match(i)),
                );
            }
            Reference::Invalid => invalid += 1,
            Reference::Diverges => diverges += 1,
        }
    }
    eprintln!("compiled {compiled}, invalid {invalid}, diverges {diverges}, matched {matched}");
    assert!(
        compiled > 400 && invalid > 200 && matched > 200,
        "{compiled} {invalid} {matched}"
    );
    assert!(diverges > 0 && diverges < 400, "{diverges}");
}
