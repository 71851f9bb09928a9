// ModelSpec presets (published shapes) and validation.
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "spec/model_spec.hpp"
#include "test_util.hpp"

using moesim::InputError;
using moesim::ModelSpec;

TEST_CASE("every preset exists, is named after itself and validates", "[model_spec]") {
  const auto names = moesim::io::model_preset_names();
  REQUIRE(names.size() == 7);
  for (const auto& name : names) {
    INFO(name);
    const auto m = moesim::io::find_model_preset(name);
    REQUIRE(m.has_value());
    CHECK(m->name == name);
    CHECK_NOTHROW(m->validate("preset " + name));
  }
  CHECK_FALSE(moesim::io::find_model_preset("DeepSeek-V3").has_value());  // names are lowercase with dashes
  CHECK_FALSE(moesim::io::find_model_preset("gpt-5").has_value());
}

TEST_CASE("DeepSeek-V3 preset matches its config.json", "[model_spec]") {
  const ModelSpec m = *moesim::io::find_model_preset("deepseek-v3");
  CHECK(m.hidden == 7168);
  CHECK(m.layers == 61);
  CHECK(m.dense_layers == 3);
  CHECK(m.moe_layers() == 58);
  CHECK(m.routed_experts == 256);
  CHECK(m.shared_experts == 1);
  CHECK(m.top_k == 8);
  CHECK(m.dense_ffn == 18432);
  // One expert: gate, up and down, 3 * 7168 * 2048 elements at 1 byte (fp8) = 44,040,192 bytes.
  CHECK(m.expert_weight_bytes() == 44040192.0);
  CHECK(m.shared_weight_bytes() == 44040192.0);
  // MLA: q_a 7168*1536 = 11,010,048; q_b 1536*128*192 = 37,748,736; kv_a 7168*576 = 4,128,768;
  // kv_b 512*128*256 = 16,777,216; o 128*128*7168 = 117,440,512; total 187,105,280.
  CHECK(m.attn_params == 187105280.0);
  // (kv_lora_rank 512 + rope 64) * 2 bytes (bf16 cache) = 1152.
  CHECK(m.kv_bytes_per_token == 1152.0);
  // Dispatch fp8: 7168 bytes per token; combine bf16: 14336.
  CHECK(m.dispatch_bytes_per_token() == 7168.0);
  CHECK(m.combine_bytes_per_token() == 14336.0);
  CHECK(m.attention_weight_bytes() == 1.0);
}

TEST_CASE("GQA presets: attention and KV sizes from heads", "[model_spec]") {
  const ModelSpec mix = *moesim::io::find_model_preset("mixtral-8x7b");
  // q 4096*4096 + k,v 2*4096*1024 + o 4096*4096 = 16,777,216*2 + 8,388,608 = 41,943,040.
  CHECK(mix.attn_params == 41943040.0);
  // K and V: 2 * 8 kv heads * 128 * 2 bytes = 4096.
  CHECK(mix.kv_bytes_per_token == 4096.0);
  // 3 * 4096 * 14336 * 2 bytes = 352,321,536.
  CHECK(mix.expert_weight_bytes() == 352321536.0);
  CHECK(mix.moe_layers() == 32);

  const ModelSpec qwen = *moesim::io::find_model_preset("qwen3-235b-a22b");
  CHECK(qwen.layers == 94);
  CHECK(qwen.expert_ffn == 1536);
  // 4 * 64 heads * 128 = 32,768 FLOPs per (query, context) pair; 4 * hidden would say 16,384.
  CHECK(qwen.decode_attn_flops_per_ctx() == 32768.0);
  CHECK(qwen.prefill_attn_flops_per_ctx() == 32768.0);

  const ModelSpec oss = *moesim::io::find_model_preset("gpt-oss-120b");
  CHECK(oss.top_k == 4);
  // MXFP4: 4.25 bits = 0.53125 bytes; attention stays bf16.
  CHECK(oss.weight_bytes == 0.53125);
  CHECK(oss.attention_weight_bytes() == 2.0);
  // 3 * 2880 * 2880 * 0.53125 = 13,219,200 bytes.
  CHECK(oss.expert_weight_bytes() == 13219200.0);

  CHECK(moesim::io::find_model_preset("olmoe-1b-7b")->routed_experts == 64);
  CHECK(moesim::io::find_model_preset("dbrx")->expert_ffn == 10752);
  CHECK(moesim::io::find_model_preset("qwen3-30b-a3b")->expert_ffn == 768);
}

TEST_CASE("defaults of the derived attention constants", "[model_spec]") {
  ModelSpec m = *moesim::io::find_model_preset("olmoe-1b-7b");
  m.attn_flops_per_ctx = 0;
  m.attn_prefill_flops_per_ctx = 0;
  // 0 = 4 * hidden = 8192; prefill follows decode.
  CHECK(m.decode_attn_flops_per_ctx() == 8192.0);
  CHECK(m.prefill_attn_flops_per_ctx() == 8192.0);
}

TEST_CASE("validate rejects out-of-range fields with the caller's prefix", "[model_spec]") {
  const ModelSpec good = *moesim::io::find_model_preset("mixtral-8x7b");
  auto fails = [](ModelSpec m, const std::string& fragment) {
    INFO(fragment);
    try {
      m.validate("scenario.toml:3:1: model");
      FAIL("validate accepted a bad spec");
    } catch (const InputError& e) {
      const std::string msg = e.what();
      CHECK(msg.rfind("scenario.toml:3:1: model: ", 0) == 0);
      CHECK(msg.find(fragment) != std::string::npos);
    }
  };
  ModelSpec m = good;
  m.top_k = 9;
  fails(m, "top_k (9) must not exceed routed_experts (8)");
  m = good;
  m.hidden = 0;
  fails(m, "hidden");
  m = good;
  m.dense_layers = 32;
  fails(m, "dense_layers");
  m = good;
  m.dense_layers = 1;  // a dense layer needs a dense FFN size
  fails(m, "dense_ffn");
  m = good;
  m.shared_experts = 1;
  fails(m, "shared_ffn");
  m = good;
  m.weight_bytes = 0;
  fails(m, "weight_bytes");
  m = good;
  m.combine_bytes = 9;
  fails(m, "combine_bytes");
  m = good;
  m.attn_params = 0;
  fails(m, "attn_params");
}

TEST_CASE("a model preset is a TOML file: by name from the models directory, or by path", "[model_spec]") {
  const auto dir = moesim::test::scratch_dir("model_presets");
  // A user's own model, given by path: the same [model] keys as a scenario's.
  const std::string own = moesim::test::write_file(
      dir, "tiny.toml",
      "[model]\nhidden = 64\nlayers = 2\nrouted_experts = 8\ntop_k = 2\nexpert_ffn = 32\nattn_params = 16384\n"
      "kv_bytes_per_token = 256\n");
  const ModelSpec tiny = moesim::io::load_model_preset(own);
  CHECK(tiny.name == "tiny");  // named after its file unless it says otherwise
  CHECK(tiny.routed_experts == 8);
  CHECK(tiny.weight_bytes == 2);
  // A missing required key, an unknown key and an unknown preset are located errors.
  const std::string bad = moesim::test::write_file(dir, "bad.toml", "[model]\nhidden = 64\nlayers = 2\n");
  CHECK_THROWS_WITH(moesim::io::load_model_preset(bad),
                    Catch::Contains("bad.toml") && Catch::Contains("routed_experts"));
  const std::string typo = moesim::test::write_file(dir, "typo.toml", "[model]\nhiden = 64\n");
  CHECK_THROWS_WITH(moesim::io::load_model_preset(typo), Catch::Contains("typo.toml:2:1"));
  CHECK_THROWS_WITH(moesim::io::load_model_preset("gpt-5"),
                    Catch::Contains("unknown model preset \"gpt-5\"") && Catch::Contains("deepseek-v3"));
  // A scenario names it by path, relative to the scenario file; its own keys still override.
  const std::string scenario = moesim::test::write_file(
      dir, "s.toml",
      "[model]\npreset = \"tiny.toml\"\ntop_k = 4\n[hardware]\ntopology = \"t.toml\"\nprofile = \"p.toml\"\n"
      "[workload]\ntokens_per_gpu = 8\n");
  const moesim::Scenario s = moesim::io::load_scenario(scenario);
  CHECK(s.model.hidden == 64);
  CHECK(s.model.top_k == 4);
}
