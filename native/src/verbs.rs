use crate::napi::*;
pub fn register(_env: napi_env, _exports: napi_value) {}
