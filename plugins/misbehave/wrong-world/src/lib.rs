//! Test plugin: a component whose exports do not match world `target` (its own world exports only
//! `translate: func(input: string) -> string`). The host must refuse it at load time.

wit_bindgen::generate!({
    world: "wrong",
    path: "wit",
});

struct Wrong;

impl Guest for Wrong {
    fn translate(input: String) -> String {
        input.chars().rev().collect()
    }
}

export!(Wrong);
