/* SPDX-License-Identifier: MIT */
/* Chat templates: family detection on real tokenizer.chat_template strings,
 * and exact renderings of every family. Most expected renderings are what
 * Jinja2 (the engine transformers uses) makes of the model's real template
 * with transformers' settings, less the leading BOS; the rest follow fief's
 * documented conventions and were checked by hand (docs/chat-templates.md). */
#include "testutil.h"

#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- real templates ----------------------------------------------------- */

/* clang-format off */

/* Verbatim tokenizer.chat_template strings of: teknium/OpenHermes-2.5-Mistral-7B,
 * Qwen/Qwen2-7B-Instruct, meta-llama/Llama-2-7b-chat-hf,
 * codellama/CodeLlama-34b-Instruct-hf, meta-llama/Meta-Llama-3-8B-Instruct,
 * meta-llama/Llama-3.2-1B-Instruct, mistralai/Mistral-7B-Instruct-v0.1 (as
 * released), mistralai/Mixtral-8x7B-Instruct-v0.1 (as released; the same as
 * Mistral-7B-Instruct-v0.2's), Mistral's "v1" template (Mistral-7B-Instruct-v0.2
 * today), Mistral's "v3" template (Mistral-Large-Instruct-2407, the same as
 * Mistral-7B-Instruct-v0.3's), mistralai/Mistral-Large-Instruct-2411 ("v7"),
 * google/gemma-7b-it, google/gemma-3-*-it, microsoft/Phi-3-mini-4k-instruct as
 * released (also inside ../shared/models/vocab/ggml-vocab-phi-3.gguf),
 * microsoft/Phi-3.5-mini-instruct, microsoft/Phi-3-small-8k-instruct,
 * HuggingFaceH4/zephyr-7b-beta (= TinyLlama-1.1B-Chat-v1.0), microsoft/phi-4,
 * CohereForAI/c4ai-command-r-plus. They are data: the escapes below are C's,
 * "\n" inside a quoted Jinja literal is a newline and "\\n" Jinja's escape. */
static const char tmpl_openhermes[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}";

static const char tmpl_qwen2[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] "
    "!= 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}";

static const char tmpl_llama2_chat[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] "
    "%}{% set system_message = messages[0]['content'] %}{% else %}{% set "
    "loop_messages = messages %}{% set system_message = false %}{% endif "
    "%}{% for message in loop_messages %}{% if (message['role'] == 'user') "
    "!= (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles "
    "must alternate user/assistant/user/assistant/...') }}{% endif %}{% "
    "if loop.index0 == 0 and system_message != false %}{% set content = "
    "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] "
    "%}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() "
    "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() "
    "+ ' ' + eos_token }}{% endif %}{% endfor %}";

static const char tmpl_codellama[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] "
    "%}{% set system_message = messages[0]['content'] %}{% else %}{% set "
    "loop_messages = messages %}{% set system_message = false %}{% endif "
    "%}{% for message in loop_messages %}{% if (message['role'] == 'user') "
    "!= (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles "
    "must alternate user/assistant/user/assistant/...') }}{% endif %}{% "
    "if loop.index0 == 0 and system_message != false %}{% set content = "
    "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] "
    "%}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content | trim "
    "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content "
    "| trim + ' ' + eos_token }}{% endif %}{% endfor %}";

static const char tmpl_llama3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% "
    "set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n"
    "\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == "
    "0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% "
    "endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>"
    "\n\n' }}{% endif %}";

static const char tmpl_llama3_2[] =
    "{{- bos_token }}\n{%- if custom_tools is defined %}\n"
    "    {%- set tools = custom_tools %}\n"
    "{%- endif %}\n{%- if not tools_in_user_message is defined %}\n"
    "    {%- set tools_in_user_message = true %}\n"
    "{%- endif %}\n{%- if not date_string is defined %}\n"
    "    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
    "    {%- else %}\n        {%- set date_string = \"26 Jul 2024\" %}\n"
    "    {%- endif %}\n{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n{%- endif %}\n"
    "\n{#- This block extracts the system message, so we can slot it into "
    "the right place. #}\n{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n\n{#- System message #}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{%- if tools is not none %}\n    {{- \"Environment: ipython\\n\" }}\n"
    "{%- endif %}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{%- if tools is not none and not tools_in_user_message %}\n"
    "    {{- \"You have access to the following functions. To call a function, "
    "please respond with JSON for a function call.\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": "
    "dictionary of argument name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n    {%- endfor %}\n"
    "{%- endif %}\n{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n\n{#- Custom tools are passed in a user message "
    "with some extra guidance #}\n{%- if tools_in_user_message and not tools "
    "is none %}\n    {#- Extract the first user message so we can plug it "
    "in here #}\n    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    "        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n        {{- raise_exception(\"Cannot put tools in "
    "the first user message when there's no first user message!\") }}\n"
    "{%- endif %}\n    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' "
    "-}}\n    {{- \"Given the following functions, please respond with a "
    "JSON for a function call \" }}\n"
    "    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" "
    "}}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": "
    "dictionary of argument name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot_id|>\"}}\n"
    "{%- endif %}\n\n{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' "
    "or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
    "message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    "        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"This model only supports single tool-calls "
    "at once!\") }}\n        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n"
    "        {{- '\"parameters\": ' }}\n"
    "        {{- tool_call.arguments | tojson }}\n"
    "        {{- \"}\" }}\n        {{- \"<|eot_id|>\" }}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" "
    "%}\n        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" "
    "}}\n        {%- if message.content is mapping or message.content is "
    "iterable %}\n            {{- message.content | tojson }}\n"
    "        {%- else %}\n            {{- message.content }}\n"
    "        {%- endif %}\n        {{- \"<|eot_id|>\" }}\n"
    "    {%- endif %}\n{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n";

static const char tmpl_mistral_v01[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] "
    "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation "
    "roles must alternate user/assistant/user/assistant/...') }}{% endif "
    "%}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] "
    "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] "
    "+ eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}";

static const char tmpl_mixtral[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] "
    "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation "
    "roles must alternate user/assistant/user/assistant/...') }}{% endif "
    "%}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] "
    "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] "
    "+ eos_token}}{% else %}{{ raise_exception('Only user and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}";

static const char tmpl_mistral_v1[] =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content'] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n\n{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
    "        {{- raise_exception('After the optional system message, conversation "
    "roles must alternate user/assistant/user/assistant/...') }}\n"
    "    {%- endif %}\n    {%- if message['role'] == 'user' %}\n"
    "        {%- if loop.first and system_message is defined %}\n"
    "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] "
    "+ ' [/INST]' }}\n        {%- else %}\n"
    "            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
    "        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n"
    "        {{- ' ' + message['content'] + eos_token}}\n"
    "    {%- else %}\n        {{- raise_exception('Only user and assistant "
    "roles are supported, with the exception of an initial optional system "
    "message!') }}\n    {%- endif %}\n"
    "{%- endfor %}\n";

static const char tmpl_mistral_v3[] =
    "{%- if messages[0][\"role\"] == \"system\" %}\n"
    "    {%- set system_message = messages[0][\"content\"] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n{%- endif %}\n"
    "{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", "
    "\"user\") | list %}\n\n{#- This block checks for alternating user/assistant "
    "messages, skipping tool calling messages #}\n"
    "{%- set ns = namespace() %}\n{%- set ns.index = 0 %}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" "
    "or (message.tool_calls is defined and message.tool_calls is not none)) "
    "%}\n        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 "
    "== 0) %}\n            {{- raise_exception(\"After the optional system "
    "message, conversation roles must alternate user/assistant/user/assistant/...\") "
    "}}\n        {%- endif %}\n        {%- set ns.index = ns.index + 1 %}\n"
    "    {%- endif %}\n{%- endfor %}\n"
    "\n{{- bos_token }}\n{%- for message in loop_messages %}\n"
    "    {%- if message[\"role\"] == \"user\" %}\n"
    "        {%- if tools is not none and (message == user_messages[-1]) "
    "%}\n            {{- \"[AVAILABLE_TOOLS] [\" }}\n"
    "            {%- for tool in tools %}\n"
    "                {%- set tool = tool.function %}\n"
    "                {{- '{\"type\": \"function\", \"function\": {' }}\n"
    "                {%- for key, val in tool.items() if key != \"return\" "
    "%}\n                    {%- if val is string %}\n"
    "                        {{- '\"' + key + '\": \"' + val + '\"' }}\n"
    "                    {%- else %}\n"
    "                        {{- '\"' + key + '\": ' + val|tojson }}\n"
    "                    {%- endif %}\n"
    "                    {%- if not loop.last %}\n"
    "                        {{- \", \" }}\n"
    "                    {%- endif %}\n"
    "                {%- endfor %}\n"
    "                {{- \"}}\" }}\n"
    "                {%- if not loop.last %}\n"
    "                    {{- \", \" }}\n"
    "                {%- else %}\n                    {{- \"]\" }}\n"
    "                {%- endif %}\n            {%- endfor %}\n"
    "            {{- \"[/AVAILABLE_TOOLS]\" }}\n"
    "            {%- endif %}\n        {%- if loop.last and system_message "
    "is defined %}\n            {{- \"[INST] \" + system_message + \"\\n\\n\" "
    "+ message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- else %}\n            {{- \"[INST] \" + message[\"content\"] "
    "+ \"[/INST]\" }}\n        {%- endif %}\n"
    "    {%- elif message.tool_calls is defined and message.tool_calls is "
    "not none %}\n        {{- \"[TOOL_CALLS] [\" }}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- set out = tool_call.function|tojson %}\n"
    "            {{- out[:-1] }}\n            {%- if not tool_call.id is "
    "defined or tool_call.id|length != 9 %}\n"
    "                {{- raise_exception(\"Tool call IDs should be alphanumeric "
    "strings with length 9!\") }}\n            {%- endif %}\n"
    "            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n"
    "            {%- if not loop.last %}\n"
    "                {{- \", \" }}\n"
    "            {%- else %}\n                {{- \"]\" + eos_token }}\n"
    "            {%- endif %}\n        {%- endfor %}\n"
    "    {%- elif message[\"role\"] == \"assistant\" %}\n"
    "        {{- \" \" + message[\"content\"]|trim + eos_token}}\n"
    "    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] "
    "== \"tool\" %}\n        {%- if message.content is defined and message.content.content "
    "is defined %}\n            {%- set content = message.content.content "
    "%}\n        {%- else %}\n            {%- set content = message.content "
    "%}\n        {%- endif %}\n        {{- '[TOOL_RESULTS] {\"content\": "
    "' + content|string + \", \" }}\n"
    "        {%- if not message.tool_call_id is defined or message.tool_call_id|length "
    "!= 9 %}\n            {{- raise_exception(\"Tool call IDs should be "
    "alphanumeric strings with length 9!\") }}\n"
    "        {%- endif %}\n        {{- '\"call_id\": \"' + message.tool_call_id "
    "+ '\"}[/TOOL_RESULTS]' }}\n    {%- else %}\n"
    "        {{- raise_exception(\"Only user and assistant roles are supported, "
    "with the exception of an initial optional system message!\") }}\n"
    "    {%- endif %}\n{%- endfor %}\n";

static const char tmpl_mistral_v7[] =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == "
    "'user' %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% elif message['role'] "
    "== 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' "
    "}}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] "
    "+ eos_token }}{% else %}{{ raise_exception('Only user, system and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}";

static const char tmpl_gemma_7b[] =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System "
    "role not supported') }}{% endif %}{% for message in messages %}{% if "
    "(message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation"
    " roles must alternate user/assistant/user/assistant/...') }}{% endif "
    "%}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% "
    "else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' "
    "+ role + '\n' + message['content'] | trim + '<end_of_turn>\n"
    "' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n"
    "'}}{% endif %}";

static const char tmpl_gemma3[] =
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\n"
    "\n' -%}\n    {%- else -%}\n        {%- set first_user_prefix = messages[0]['content'][0]"
    "['text'] + '\n\n' -%}\n    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assis"
    "tant/...\") }}\n    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n    {{ '<start_of_turn>' + role + '\n"
    "' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n        {%- endfor -%}\n"
    "    {%- else -%}\n        {{ raise_exception(\"Invalid content type\") "
    "}}\n    {%- endif -%}\n    {{ '<end_of_turn>\n"
    "' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\n'}}\n"
    "{%- endif -%}\n";

static const char tmpl_phi3_mini[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] "
    "== 'user') %}{{'<|user|>' + '\n"
    "' + message['content'] + '<|end|>' + '\n"
    "' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') "
    "%}{{message['content'] + '<|end|>' + '\n"
    "'}}{% endif %}{% endfor %}";

static const char tmpl_phi3_5[] =
    "{% for message in messages %}{% if message['role'] == 'system' and "
    "message['content'] %}{{'<|system|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% elif message['role'] == 'user' %}{{'<|user|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n"
    "' }}{% else %}{{ eos_token }}{% endif %}";

static const char tmpl_phi3_small[] =
    "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] "
    "+ '|>' + '\n' + message['content'] + '<|end|>\n"
    "' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n"
    "' }}{% else %}{{ eos_token }}{% endif %}";

static const char tmpl_zephyr[] =
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}";

static const char tmpl_phi4[] =
    "{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system"
    "<|im_sep|>' + message['content'] + '<|im_end|>'}}{% elif (message['role'] "
    "== 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + "
    "'<|im_end|><|im_start|>assistant<|im_sep|>'}}{% elif (message['role'] "
    "== 'assistant') %}{{message['content'] + '<|im_end|>'}}{% endif %}{% "
    "endfor %}";

static const char tmpl_command_r[] =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages "
    "= messages[1:] %}{% set system_message = messages[0]['content'] %}{% "
    "elif false == true %}{% set loop_messages = messages %}{% set system_message "
    "= 'You are Command-R, a brilliant, sophisticated, AI-assistant trained "
    "to assist human users by providing thorough responses. You are trained "
    "by Cohere.' %}{% else %}{% set loop_messages = messages %}{% set system_message "
    "= false %}{% endif %}{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM"
    "_TOKEN|>' + system_message + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% "
    "for message in loop_messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must "
    "alternate user/assistant/user/assistant/...') }}{% endif %}{% set content "
    "= message['content'] %}{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|US"
    "ER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% elif message['role'] "
    "== 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>'  + content.strip() "
    "+ '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% endfor %}{% if add_generation_prompt "
    "%}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}";

/* mistralai/Mistral-Nemo-Instruct-2407 ("v3-tekken"): an excerpt, verbatim. */
static const char tmpl_mistral_nemo[] =
    "{%- for message in loop_messages %}\n"
    "    {%- if message[\"role\"] == \"user\" %}\n"
    "        {%- if loop.last and system_message is defined %}\n"
    "            {{- \"[INST]\" + system_message + \"\\n\\n\" + message[\"content\"] + "
    "\"[/INST]\" }}\n"
    "        {%- else %}\n"
    "            {{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- endif %}\n"
    "    {%- elif (message.tool_calls is defined and message.tool_calls is not none) %}\n"
    "        {{- \"[TOOL_CALLS][\" }}\n"
    "    {%- elif message[\"role\"] == \"assistant\" %}\n"
    "        {{- message[\"content\"] + eos_token}}\n";

/* mistralai/Mistral-Small-3.1-24B-Instruct-2503 ("v7-tekken"): an excerpt,
 * verbatim; "[AVAILABLE_TOOLS] [" must not make it look spaced. */
static const char tmpl_mistral_small31[] =
    "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if message[\"role\"] == \"user\" %}\n"
    "        {%- if tools is not none and (message == user_messages[-1]) %}\n"
    "            {{- \"[AVAILABLE_TOOLS] [\" }}\n"
    "        {%- if message['content'] is string %}\n"
    "        {{- '[INST]' + message['content'] + '[/INST]' }}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {%- if message['content'] is string %}\n"
    "            {{- message['content'] + eos_token }}\n";

/* Formats fief does not render; they must fall back to PLAIN, not be taken
 * for a family they only resemble. deepseek-ai/deepseek-math-7b-rl: */
static const char tmpl_deepseek_math[] =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}"
    "{% endif %}{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' "
    "%}{{ 'User: ' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' "
    "%}{{ message['content'] + '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt "
    "%}{{ 'Assistant:' }}{% endif %}";

/* openchat/openchat-3.5-0106 */
static const char tmpl_openchat[] =
    "{{ bos_token }}{% for message in messages %}{{ 'GPT4 Correct ' + "
    "message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'GPT4 Correct Assistant:' }}{% endif %}";

/* h2oai/h2o-danube2-1.8b-chat */
static const char tmpl_danube2[] =
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|prompt|>' + "
    "message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ "
    "raise_exception('System role not supported') }}{% elif message['role'] == 'assistant' "
    "%}{{ '<|answer|>'  + message['content'] + eos_token }}{% endif %}{% if loop.last and "
    "add_generation_prompt %}{{ '<|answer|>' }}{% endif %}{% endfor %}";

/* clang-format on */

/* ---- detection ---------------------------------------------------------- */

struct detect_case {
    const char *model;
    const char *tmpl;
    enum eng_chat_family want;
};

static const struct detect_case detect_cases[] = {
    {"OpenHermes-2.5", tmpl_openhermes, ENG_CHAT_CHATML},
    {"Qwen2-7B-Instruct", tmpl_qwen2, ENG_CHAT_CHATML},
    {"Llama-2-7b-chat", tmpl_llama2_chat, ENG_CHAT_LLAMA2},
    {"CodeLlama-34b-Instruct", tmpl_codellama, ENG_CHAT_LLAMA2},
    {"Meta-Llama-3-8B-Instruct", tmpl_llama3, ENG_CHAT_LLAMA3},
    {"Llama-3.2-1B-Instruct", tmpl_llama3_2, ENG_CHAT_LLAMA31},
    {"Mistral-7B-Instruct-v0.1", tmpl_mistral_v01, ENG_CHAT_MISTRAL},
    {"Mixtral-8x7B-Instruct-v0.1", tmpl_mixtral, ENG_CHAT_MISTRAL},
    {"Mistral v1 template", tmpl_mistral_v1, ENG_CHAT_MISTRAL_V1},
    {"Mistral v3 template", tmpl_mistral_v3, ENG_CHAT_MISTRAL_V3},
    {"Mistral-Nemo-Instruct-2407", tmpl_mistral_nemo, ENG_CHAT_MISTRAL_V3_TEKKEN},
    {"Mistral-Large-Instruct-2411", tmpl_mistral_v7, ENG_CHAT_MISTRAL_V7},
    {"Mistral-Small-3.1-24B-Instruct", tmpl_mistral_small31, ENG_CHAT_MISTRAL_V7_TEKKEN},
    {"gemma-7b-it", tmpl_gemma_7b, ENG_CHAT_GEMMA},
    {"gemma-3-it", tmpl_gemma3, ENG_CHAT_GEMMA},
    {"Phi-3-mini-4k-instruct", tmpl_phi3_mini, ENG_CHAT_PHI3},
    {"Phi-3.5-mini-instruct", tmpl_phi3_5, ENG_CHAT_PHI3},
    {"Phi-3-small-8k-instruct", tmpl_phi3_small, ENG_CHAT_PHI3},
    {"zephyr-7b-beta", tmpl_zephyr, ENG_CHAT_ZEPHYR},
    {"phi-4", tmpl_phi4, ENG_CHAT_PHI4},
    {"c4ai-command-r-plus", tmpl_command_r, ENG_CHAT_COMMAND_R},
    {"deepseek-math-7b-rl", tmpl_deepseek_math, ENG_CHAT_PLAIN},
    {"openchat-3.5-0106", tmpl_openchat, ENG_CHAT_PLAIN},
    {"h2o-danube2-1.8b-chat", tmpl_danube2, ENG_CHAT_PLAIN},
    {"no template", NULL, ENG_CHAT_PLAIN},
    {"empty template", "", ENG_CHAT_PLAIN},
    {"bare messages", "{% for m in messages %}{{ m['content'] }}{% endfor %}", ENG_CHAT_PLAIN},
};

static void test_detect_real_templates(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof detect_cases / sizeof detect_cases[0]; i++) {
        const struct detect_case *c = &detect_cases[i];
        enum eng_chat_family got = eng_chat_detect(c->tmpl);
        if (got != c->want) {
            print_error("%s: detected %s, want %s\n", c->model, eng_chat_family_name(got),
                        eng_chat_family_name(c->want));
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* The string value of key in a GGUF file's bytes, found by a plain search
 * (enough for a vocab-only fixture; the real reader is gguf.c). */
static char *gguf_string(const char *data, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *p = memmem(data, len, key, kl);
    if (!p || (size_t)(p - data) + kl + 12 > len)
        return NULL;
    const unsigned char *q = (const unsigned char *)p + kl;
    uint32_t type = q[0] | q[1] << 8 | q[2] << 16 | (uint32_t)q[3] << 24;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | q[4 + i];
    size_t off = (size_t)(q + 12 - (const unsigned char *)data);
    if (type != 8 || n > len - off) /* 8: GGUF string */
        return NULL;
    char *s = malloc(n + 1);
    memcpy(s, data + off, n);
    s[n] = 0;
    return s;
}

/* The template inside a real GGUF file (Phi-3-mini's vocab in ../shared). */
static void test_detect_gguf_template(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "vocab/ggml-vocab-phi-3.gguf");
    size_t len = 0;
    char *data = tu_read_file(path, &len);
    assert_non_null(data);
    char *tmpl = gguf_string(data, len, "tokenizer.chat_template");
    assert_non_null(tmpl);
    assert_string_equal(tmpl, tmpl_phi3_mini);
    assert_int_equal(eng_chat_detect(tmpl), ENG_CHAT_PHI3);
    free(tmpl);
    free(data);
}

/* ---- names -------------------------------------------------------------- */

static void test_family_names(void **state)
{
    (void)state;
    for (int f = 0; f < ENG_CHAT_COUNT; f++) {
        const char *name = eng_chat_family_name(f);
        assert_true(name[0] != 0);
        assert_int_equal(eng_chat_family_parse(name), f);
    }
    assert_int_equal(eng_chat_family_parse("ChatML"), ENG_CHAT_CHATML);
    assert_int_equal(eng_chat_family_parse("llama3.1"), ENG_CHAT_LLAMA31);
    assert_int_equal(eng_chat_family_parse("vicuna"), -1);
    assert_int_equal(eng_chat_family_parse(""), -1);
    assert_int_equal(eng_chat_family_parse(NULL), -1);
    assert_string_equal(eng_chat_family_name(ENG_CHAT_COUNT), "unknown");
}

/* ---- rendering every family --------------------------------------------- */

enum conv { C_USER, C_SYS_USER, C_MULTI, C_SPACES, C_ENDS_ASST, C_COUNT };

static const struct eng_chat_msg conv_user[] = {{"user", "Hello"}};
static const struct eng_chat_msg conv_sys_user[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
};
/* The conversation llama.cpp's tests/test-chat-template.cpp renders. */
static const struct eng_chat_msg conv_multi[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};
static const struct eng_chat_msg conv_spaces[] = {
    {"user", " Hello "},
    {"assistant", "Hi there"},
    {"user", "Who are you?\n"},
};
static const struct eng_chat_msg conv_ends_asst[] = {
    {"user", "Hello"},
    {"assistant", "Hi there"},
};

#define CONV(a)                                                                                    \
    {                                                                                              \
        a, sizeof a / sizeof a[0], #a                                                              \
    }
static const struct {
    const struct eng_chat_msg *msgs;
    size_t n;
    const char *name;
} convs[C_COUNT] = {
    [C_USER] = CONV(conv_user),           [C_SYS_USER] = CONV(conv_sys_user),
    [C_MULTI] = CONV(conv_multi),         [C_SPACES] = CONV(conv_spaces),
    [C_ENDS_ASST] = CONV(conv_ends_asst),
};

struct render_case {
    enum eng_chat_family f;
    enum conv c;
    bool add_assistant;
    /* The real template (above) whose Jinja2 rendering this is, less its
     * leading BOS; NULL where the reference is fief's convention instead:
     * PLAIN, system text with the Mistral v0.2 template (which raises on a
     * system message) and Mistral Small without its default system prompt. */
    const char *ref;
    const char *want;
};

/* clang-format off */
static const struct render_case render_cases[] = {
    {ENG_CHAT_PLAIN, C_USER, 0, NULL,
     "User: Hello\n"},
    {ENG_CHAT_PLAIN, C_USER, 1, NULL,
     "User: Hello\nAssistant:"},
    {ENG_CHAT_PLAIN, C_SYS_USER, 0, NULL,
     "System: You are a helpful assistant\n"
     "User: Hello\n"},
    {ENG_CHAT_PLAIN, C_SYS_USER, 1, NULL,
     "System: You are a helpful assistant\n"
     "User: Hello\nAssistant:"},
    {ENG_CHAT_PLAIN, C_MULTI, 0, NULL,
     "System: You are a helpful assistant\n"
     "User: Hello\nAssistant: Hi there\n"
     "User: Who are you\nAssistant:    I am an assistant   \n"
     "User: Another question\n"},
    {ENG_CHAT_PLAIN, C_MULTI, 1, NULL,
     "System: You are a helpful assistant\n"
     "User: Hello\nAssistant: Hi there\n"
     "User: Who are you\nAssistant:    I am an assistant   \n"
     "User: Another question\nAssistant:"},
    {ENG_CHAT_PLAIN, C_SPACES, 0, NULL,
     "User:  Hello \nAssistant: Hi there\n"
     "User: Who are you?\n\n"},
    {ENG_CHAT_PLAIN, C_SPACES, 1, NULL,
     "User:  Hello \nAssistant: Hi there\n"
     "User: Who are you?\n\nAssistant:"},
    {ENG_CHAT_PLAIN, C_ENDS_ASST, 0, NULL,
     "User: Hello\nAssistant: Hi there\n"},
    {ENG_CHAT_PLAIN, C_ENDS_ASST, 1, NULL,
     "User: Hello\nAssistant: Hi there\n"
     "Assistant:"},
    {ENG_CHAT_CHATML, C_USER, 0, "openhermes",
     "<|im_start|>user\nHello<|im_end|>\n"},
    {ENG_CHAT_CHATML, C_USER, 1, "openhermes",
     "<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\n"},
    {ENG_CHAT_CHATML, C_SYS_USER, 0, "openhermes",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
     "<|im_start|>user\nHello<|im_end|>\n"},
    {ENG_CHAT_CHATML, C_SYS_USER, 1, "openhermes",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
     "<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\n"},
    {ENG_CHAT_CHATML, C_MULTI, 0, "openhermes",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
     "<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n"
     "<|im_start|>user\nWho are you<|im_end|>\n"
     "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n"
     "<|im_start|>user\nAnother question<|im_end|>\n"},
    {ENG_CHAT_CHATML, C_MULTI, 1, "openhermes",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
     "<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n"
     "<|im_start|>user\nWho are you<|im_end|>\n"
     "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n"
     "<|im_start|>user\nAnother question<|im_end|>\n"
     "<|im_start|>assistant\n"},
    {ENG_CHAT_CHATML, C_SPACES, 0, "openhermes",
     "<|im_start|>user\n Hello <|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n"
     "<|im_start|>user\nWho are you?\n"
     "<|im_end|>\n"},
    {ENG_CHAT_CHATML, C_SPACES, 1, "openhermes",
     "<|im_start|>user\n Hello <|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n"
     "<|im_start|>user\nWho are you?\n"
     "<|im_end|>\n<|im_start|>assistant\n"},
    {ENG_CHAT_CHATML, C_ENDS_ASST, 0, "openhermes",
     "<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n"},
    {ENG_CHAT_CHATML, C_ENDS_ASST, 1, "openhermes",
     "<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n"
     "<|im_start|>assistant\n"},
    {ENG_CHAT_LLAMA2, C_USER, 0, "llama2_chat",
     "[INST] Hello [/INST]"},
    {ENG_CHAT_LLAMA2, C_USER, 1, "llama2_chat",
     "[INST] Hello [/INST]"},
    {ENG_CHAT_LLAMA2, C_SYS_USER, 0, "llama2_chat",
     "[INST] <<SYS>>\nYou are a helpful assistant\n"
     "<</SYS>>\n\nHello [/INST]"},
    {ENG_CHAT_LLAMA2, C_SYS_USER, 1, "llama2_chat",
     "[INST] <<SYS>>\nYou are a helpful assistant\n"
     "<</SYS>>\n\nHello [/INST]"},
    {ENG_CHAT_LLAMA2, C_MULTI, 0, "llama2_chat",
     "[INST] <<SYS>>\nYou are a helpful assistant\n"
     "<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST] "
     "I am an assistant </s><s>[INST] Another question [/INST]"},
    {ENG_CHAT_LLAMA2, C_MULTI, 1, "llama2_chat",
     "[INST] <<SYS>>\nYou are a helpful assistant\n"
     "<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST] "
     "I am an assistant </s><s>[INST] Another question [/INST]"},
    {ENG_CHAT_LLAMA2, C_SPACES, 0, "llama2_chat",
     "[INST] Hello [/INST] Hi there </s><s>[INST] Who are you? [/INST]"},
    {ENG_CHAT_LLAMA2, C_SPACES, 1, "llama2_chat",
     "[INST] Hello [/INST] Hi there </s><s>[INST] Who are you? [/INST]"},
    {ENG_CHAT_LLAMA2, C_ENDS_ASST, 0, "llama2_chat",
     "[INST] Hello [/INST] Hi there </s>"},
    {ENG_CHAT_LLAMA2, C_ENDS_ASST, 1, "llama2_chat",
     "[INST] Hello [/INST] Hi there </s>"},
    {ENG_CHAT_LLAMA3, C_USER, 0, "llama3",
     "<|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|>"},
    {ENG_CHAT_LLAMA3, C_USER, 1, "llama3",
     "<|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_LLAMA3, C_SYS_USER, 0, "llama3",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|>"},
    {ENG_CHAT_LLAMA3, C_SYS_USER, 1, "llama3",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_LLAMA3, C_MULTI, 0, "llama3",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nAnother question<|eot_id|>"},
    {ENG_CHAT_LLAMA3, C_MULTI, 1, "llama3",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_LLAMA3, C_SPACES, 0, "llama3",
     "<|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nWho are you?<|eot_id|>"},
    {ENG_CHAT_LLAMA3, C_SPACES, 1, "llama3",
     "<|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_LLAMA3, C_ENDS_ASST, 0, "llama3",
     "<|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|>"},
    {ENG_CHAT_LLAMA3, C_ENDS_ASST, 1, "llama3",
     "<|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_MISTRAL, C_USER, 0, "mixtral",
     "[INST] Hello [/INST]"},
    {ENG_CHAT_MISTRAL, C_USER, 1, "mixtral",
     "[INST] Hello [/INST]"},
    {ENG_CHAT_MISTRAL, C_SYS_USER, 0, NULL,
     "[INST] You are a helpful assistant\n"
     "\nHello [/INST]"},
    {ENG_CHAT_MISTRAL, C_SYS_USER, 1, NULL,
     "[INST] You are a helpful assistant\n"
     "\nHello [/INST]"},
    {ENG_CHAT_MISTRAL, C_MULTI, 0, NULL,
     "[INST] You are a helpful assistant\n"
     "\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant "
     "  </s>[INST] Another question [/INST]"},
    {ENG_CHAT_MISTRAL, C_MULTI, 1, NULL,
     "[INST] You are a helpful assistant\n"
     "\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant "
     "  </s>[INST] Another question [/INST]"},
    {ENG_CHAT_MISTRAL, C_SPACES, 0, "mixtral",
     "[INST]  Hello  [/INST]Hi there</s>[INST] Who are you?\n"
     " [/INST]"},
    {ENG_CHAT_MISTRAL, C_SPACES, 1, "mixtral",
     "[INST]  Hello  [/INST]Hi there</s>[INST] Who are you?\n"
     " [/INST]"},
    {ENG_CHAT_MISTRAL, C_ENDS_ASST, 0, "mixtral",
     "[INST] Hello [/INST]Hi there</s>"},
    {ENG_CHAT_MISTRAL, C_ENDS_ASST, 1, "mixtral",
     "[INST] Hello [/INST]Hi there</s>"},
    {ENG_CHAT_GEMMA, C_USER, 0, "gemma3",
     "<start_of_turn>user\nHello<end_of_turn>\n"},
    {ENG_CHAT_GEMMA, C_USER, 1, "gemma3",
     "<start_of_turn>user\nHello<end_of_turn>\n"
     "<start_of_turn>model\n"},
    {ENG_CHAT_GEMMA, C_SYS_USER, 0, "gemma3",
     "<start_of_turn>user\nYou are a helpful assistant\n"
     "\nHello<end_of_turn>\n"},
    {ENG_CHAT_GEMMA, C_SYS_USER, 1, "gemma3",
     "<start_of_turn>user\nYou are a helpful assistant\n"
     "\nHello<end_of_turn>\n<start_of_turn>model\n"},
    {ENG_CHAT_GEMMA, C_MULTI, 0, "gemma3",
     "<start_of_turn>user\nYou are a helpful assistant\n"
     "\nHello<end_of_turn>\n<start_of_turn>model\n"
     "Hi there<end_of_turn>\n<start_of_turn>user\n"
     "Who are you<end_of_turn>\n<start_of_turn>model\n"
     "I am an assistant<end_of_turn>\n"
     "<start_of_turn>user\nAnother question<end_of_turn>\n"},
    {ENG_CHAT_GEMMA, C_MULTI, 1, "gemma3",
     "<start_of_turn>user\nYou are a helpful assistant\n"
     "\nHello<end_of_turn>\n<start_of_turn>model\n"
     "Hi there<end_of_turn>\n<start_of_turn>user\n"
     "Who are you<end_of_turn>\n<start_of_turn>model\n"
     "I am an assistant<end_of_turn>\n"
     "<start_of_turn>user\nAnother question<end_of_turn>\n"
     "<start_of_turn>model\n"},
    {ENG_CHAT_GEMMA, C_SPACES, 0, "gemma3",
     "<start_of_turn>user\nHello<end_of_turn>\n"
     "<start_of_turn>model\nHi there<end_of_turn>\n"
     "<start_of_turn>user\nWho are you?<end_of_turn>\n"},
    {ENG_CHAT_GEMMA, C_SPACES, 1, "gemma3",
     "<start_of_turn>user\nHello<end_of_turn>\n"
     "<start_of_turn>model\nHi there<end_of_turn>\n"
     "<start_of_turn>user\nWho are you?<end_of_turn>\n"
     "<start_of_turn>model\n"},
    {ENG_CHAT_GEMMA, C_ENDS_ASST, 0, "gemma3",
     "<start_of_turn>user\nHello<end_of_turn>\n"
     "<start_of_turn>model\nHi there<end_of_turn>\n"},
    {ENG_CHAT_GEMMA, C_ENDS_ASST, 1, "gemma3",
     "<start_of_turn>user\nHello<end_of_turn>\n"
     "<start_of_turn>model\nHi there<end_of_turn>\n"
     "<start_of_turn>model\n"},
    {ENG_CHAT_PHI3, C_USER, 0, "phi3_5",
     "<|user|>\nHello<|end|>\n<|endoftext|>"},
    {ENG_CHAT_PHI3, C_USER, 1, "phi3_5",
     "<|user|>\nHello<|end|>\n<|assistant|>\n"},
    {ENG_CHAT_PHI3, C_SYS_USER, 0, "phi3_5",
     "<|system|>\nYou are a helpful assistant<|end|>\n"
     "<|user|>\nHello<|end|>\n<|endoftext|>"},
    {ENG_CHAT_PHI3, C_SYS_USER, 1, "phi3_5",
     "<|system|>\nYou are a helpful assistant<|end|>\n"
     "<|user|>\nHello<|end|>\n<|assistant|>\n"},
    {ENG_CHAT_PHI3, C_MULTI, 0, "phi3_5",
     "<|system|>\nYou are a helpful assistant<|end|>\n"
     "<|user|>\nHello<|end|>\n<|assistant|>\n"
     "Hi there<|end|>\n<|user|>\nWho are you<|end|>\n"
     "<|assistant|>\n   I am an assistant   <|end|>\n"
     "<|user|>\nAnother question<|end|>\n"
     "<|endoftext|>"},
    {ENG_CHAT_PHI3, C_MULTI, 1, "phi3_5",
     "<|system|>\nYou are a helpful assistant<|end|>\n"
     "<|user|>\nHello<|end|>\n<|assistant|>\n"
     "Hi there<|end|>\n<|user|>\nWho are you<|end|>\n"
     "<|assistant|>\n   I am an assistant   <|end|>\n"
     "<|user|>\nAnother question<|end|>\n"
     "<|assistant|>\n"},
    {ENG_CHAT_PHI3, C_SPACES, 0, "phi3_5",
     "<|user|>\n Hello <|end|>\n<|assistant|>\n"
     "Hi there<|end|>\n<|user|>\nWho are you?\n"
     "<|end|>\n<|endoftext|>"},
    {ENG_CHAT_PHI3, C_SPACES, 1, "phi3_5",
     "<|user|>\n Hello <|end|>\n<|assistant|>\n"
     "Hi there<|end|>\n<|user|>\nWho are you?\n"
     "<|end|>\n<|assistant|>\n"},
    {ENG_CHAT_PHI3, C_ENDS_ASST, 0, "phi3_5",
     "<|user|>\nHello<|end|>\n<|assistant|>\n"
     "Hi there<|end|>\n<|endoftext|>"},
    {ENG_CHAT_PHI3, C_ENDS_ASST, 1, "phi3_5",
     "<|user|>\nHello<|end|>\n<|assistant|>\n"
     "Hi there<|end|>\n<|assistant|>\n"},
    {ENG_CHAT_ZEPHYR, C_USER, 0, "zephyr",
     "<|user|>\nHello</s>\n"},
    {ENG_CHAT_ZEPHYR, C_USER, 1, "zephyr",
     "<|user|>\nHello</s>\n<|assistant|>\n"},
    {ENG_CHAT_ZEPHYR, C_SYS_USER, 0, "zephyr",
     "<|system|>\nYou are a helpful assistant</s>\n"
     "<|user|>\nHello</s>\n"},
    {ENG_CHAT_ZEPHYR, C_SYS_USER, 1, "zephyr",
     "<|system|>\nYou are a helpful assistant</s>\n"
     "<|user|>\nHello</s>\n<|assistant|>\n"},
    {ENG_CHAT_ZEPHYR, C_MULTI, 0, "zephyr",
     "<|system|>\nYou are a helpful assistant</s>\n"
     "<|user|>\nHello</s>\n<|assistant|>\n"
     "Hi there</s>\n<|user|>\nWho are you</s>\n"
     "<|assistant|>\n   I am an assistant   </s>\n"
     "<|user|>\nAnother question</s>\n"},
    {ENG_CHAT_ZEPHYR, C_MULTI, 1, "zephyr",
     "<|system|>\nYou are a helpful assistant</s>\n"
     "<|user|>\nHello</s>\n<|assistant|>\n"
     "Hi there</s>\n<|user|>\nWho are you</s>\n"
     "<|assistant|>\n   I am an assistant   </s>\n"
     "<|user|>\nAnother question</s>\n"
     "<|assistant|>\n"},
    {ENG_CHAT_ZEPHYR, C_SPACES, 0, "zephyr",
     "<|user|>\n Hello </s>\n<|assistant|>\n"
     "Hi there</s>\n<|user|>\nWho are you?\n"
     "</s>\n"},
    {ENG_CHAT_ZEPHYR, C_SPACES, 1, "zephyr",
     "<|user|>\n Hello </s>\n<|assistant|>\n"
     "Hi there</s>\n<|user|>\nWho are you?\n"
     "</s>\n<|assistant|>\n"},
    {ENG_CHAT_ZEPHYR, C_ENDS_ASST, 0, "zephyr",
     "<|user|>\nHello</s>\n<|assistant|>\n"
     "Hi there</s>\n"},
    {ENG_CHAT_ZEPHYR, C_ENDS_ASST, 1, "zephyr",
     "<|user|>\nHello</s>\n<|assistant|>\n"
     "Hi there</s>\n<|assistant|>\n"},
    {ENG_CHAT_LLAMA31, C_USER, 0, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|>"},
    {ENG_CHAT_LLAMA31, C_USER, 1, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_LLAMA31, C_SYS_USER, 0, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user"
     "<|end_header_id|>\n\nHello<|eot_id|>"},
    {ENG_CHAT_LLAMA31, C_SYS_USER, 1, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user"
     "<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_LLAMA31, C_MULTI, 0, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user"
     "<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nAnother question<|eot_id|>"},
    {ENG_CHAT_LLAMA31, C_MULTI, 1, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user"
     "<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_LLAMA31, C_SPACES, 0, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nWho are you?<|eot_id|>"},
    {ENG_CHAT_LLAMA31, C_SPACES, 1, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_LLAMA31, C_ENDS_ASST, 0, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|>"},
    {ENG_CHAT_LLAMA31, C_ENDS_ASST, 1, "llama3_2",
     "<|start_header_id|>system<|end_header_id|>\n"
     "\nCutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {ENG_CHAT_MISTRAL_V1, C_USER, 0, "mistral_v1",
     " [INST] Hello [/INST]"},
    {ENG_CHAT_MISTRAL_V1, C_USER, 1, "mistral_v1",
     " [INST] Hello [/INST]"},
    {ENG_CHAT_MISTRAL_V1, C_SYS_USER, 0, "mistral_v1",
     " [INST] You are a helpful assistant\n"
     "\nHello [/INST]"},
    {ENG_CHAT_MISTRAL_V1, C_SYS_USER, 1, "mistral_v1",
     " [INST] You are a helpful assistant\n"
     "\nHello [/INST]"},
    {ENG_CHAT_MISTRAL_V1, C_MULTI, 0, "mistral_v1",
     " [INST] You are a helpful assistant\n"
     "\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an "
     "assistant   </s> [INST] Another question [/INST]"},
    {ENG_CHAT_MISTRAL_V1, C_MULTI, 1, "mistral_v1",
     " [INST] You are a helpful assistant\n"
     "\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an "
     "assistant   </s> [INST] Another question [/INST]"},
    {ENG_CHAT_MISTRAL_V1, C_SPACES, 0, "mistral_v1",
     " [INST]  Hello  [/INST] Hi there</s> [INST] Who are you?\n"
     " [/INST]"},
    {ENG_CHAT_MISTRAL_V1, C_SPACES, 1, "mistral_v1",
     " [INST]  Hello  [/INST] Hi there</s> [INST] Who are you?\n"
     " [/INST]"},
    {ENG_CHAT_MISTRAL_V1, C_ENDS_ASST, 0, "mistral_v1",
     " [INST] Hello [/INST] Hi there</s>"},
    {ENG_CHAT_MISTRAL_V1, C_ENDS_ASST, 1, "mistral_v1",
     " [INST] Hello [/INST] Hi there</s>"},
    {ENG_CHAT_MISTRAL_V3, C_USER, 0, "mistral_v3",
     "[INST] Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V3, C_USER, 1, "mistral_v3",
     "[INST] Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V3, C_SYS_USER, 0, "mistral_v3",
     "[INST] You are a helpful assistant\n"
     "\nHello[/INST]"},
    {ENG_CHAT_MISTRAL_V3, C_SYS_USER, 1, "mistral_v3",
     "[INST] You are a helpful assistant\n"
     "\nHello[/INST]"},
    {ENG_CHAT_MISTRAL_V3, C_MULTI, 0, "mistral_v3",
     "[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST] I am an "
     "assistant</s>[INST] You are a helpful assistant\n"
     "\nAnother question[/INST]"},
    {ENG_CHAT_MISTRAL_V3, C_MULTI, 1, "mistral_v3",
     "[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST] I am an "
     "assistant</s>[INST] You are a helpful assistant\n"
     "\nAnother question[/INST]"},
    {ENG_CHAT_MISTRAL_V3, C_SPACES, 0, "mistral_v3",
     "[INST]  Hello [/INST] Hi there</s>[INST] Who are you?\n"
     "[/INST]"},
    {ENG_CHAT_MISTRAL_V3, C_SPACES, 1, "mistral_v3",
     "[INST]  Hello [/INST] Hi there</s>[INST] Who are you?\n"
     "[/INST]"},
    {ENG_CHAT_MISTRAL_V3, C_ENDS_ASST, 0, "mistral_v3",
     "[INST] Hello[/INST] Hi there</s>"},
    {ENG_CHAT_MISTRAL_V3, C_ENDS_ASST, 1, "mistral_v3",
     "[INST] Hello[/INST] Hi there</s>"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_USER, 0, "mistral_nemo",
     "[INST]Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_USER, 1, "mistral_nemo",
     "[INST]Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_SYS_USER, 0, "mistral_nemo",
     "[INST]You are a helpful assistant\n"
     "\nHello[/INST]"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_SYS_USER, 1, "mistral_nemo",
     "[INST]You are a helpful assistant\n"
     "\nHello[/INST]"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_MULTI, 0, "mistral_nemo",
     "[INST]Hello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant "
     "  </s>[INST]You are a helpful assistant\n"
     "\nAnother question[/INST]"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_MULTI, 1, "mistral_nemo",
     "[INST]Hello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant "
     "  </s>[INST]You are a helpful assistant\n"
     "\nAnother question[/INST]"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_SPACES, 0, "mistral_nemo",
     "[INST] Hello [/INST]Hi there</s>[INST]Who are you?\n"
     "[/INST]"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_SPACES, 1, "mistral_nemo",
     "[INST] Hello [/INST]Hi there</s>[INST]Who are you?\n"
     "[/INST]"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_ENDS_ASST, 0, "mistral_nemo",
     "[INST]Hello[/INST]Hi there</s>"},
    {ENG_CHAT_MISTRAL_V3_TEKKEN, C_ENDS_ASST, 1, "mistral_nemo",
     "[INST]Hello[/INST]Hi there</s>"},
    {ENG_CHAT_MISTRAL_V7, C_USER, 0, "mistral_v7",
     "[INST] Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V7, C_USER, 1, "mistral_v7",
     "[INST] Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V7, C_SYS_USER, 0, "mistral_v7",
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] "
     "Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V7, C_SYS_USER, 1, "mistral_v7",
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] "
     "Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V7, C_MULTI, 0, "mistral_v7",
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] "
     "Hello[/INST] Hi there</s>[INST] Who are you[/INST]    I am an assistant "
     "  </s>[INST] Another question[/INST]"},
    {ENG_CHAT_MISTRAL_V7, C_MULTI, 1, "mistral_v7",
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] "
     "Hello[/INST] Hi there</s>[INST] Who are you[/INST]    I am an assistant "
     "  </s>[INST] Another question[/INST]"},
    {ENG_CHAT_MISTRAL_V7, C_SPACES, 0, "mistral_v7",
     "[INST]  Hello [/INST] Hi there</s>[INST] Who are you?\n"
     "[/INST]"},
    {ENG_CHAT_MISTRAL_V7, C_SPACES, 1, "mistral_v7",
     "[INST]  Hello [/INST] Hi there</s>[INST] Who are you?\n"
     "[/INST]"},
    {ENG_CHAT_MISTRAL_V7, C_ENDS_ASST, 0, "mistral_v7",
     "[INST] Hello[/INST] Hi there</s>"},
    {ENG_CHAT_MISTRAL_V7, C_ENDS_ASST, 1, "mistral_v7",
     "[INST] Hello[/INST] Hi there</s>"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_USER, 0, NULL,
     "[INST]Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_USER, 1, NULL,
     "[INST]Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_SYS_USER, 0, "mistral_small31",
     "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_SYS_USER, 1, "mistral_small31",
     "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_MULTI, 0, "mistral_small31",
     "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]Hi "
     "there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]Another "
     "question[/INST]"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_MULTI, 1, "mistral_small31",
     "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]Hi "
     "there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]Another "
     "question[/INST]"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_SPACES, 0, NULL,
     "[INST] Hello [/INST]Hi there</s>[INST]Who are you?\n"
     "[/INST]"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_SPACES, 1, NULL,
     "[INST] Hello [/INST]Hi there</s>[INST]Who are you?\n"
     "[/INST]"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_ENDS_ASST, 0, NULL,
     "[INST]Hello[/INST]Hi there</s>"},
    {ENG_CHAT_MISTRAL_V7_TEKKEN, C_ENDS_ASST, 1, NULL,
     "[INST]Hello[/INST]Hi there</s>"},
    {ENG_CHAT_PHI4, C_USER, 0, "phi4",
     "<|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>"},
    {ENG_CHAT_PHI4, C_USER, 1, "phi4",
     "<|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>"},
    {ENG_CHAT_PHI4, C_SYS_USER, 0, "phi4",
     "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_s"
     "ep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>"},
    {ENG_CHAT_PHI4, C_SYS_USER, 1, "phi4",
     "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_s"
     "ep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>"},
    {ENG_CHAT_PHI4, C_MULTI, 0, "phi4",
     "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_s"
     "ep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>Hi there<|im_end|><|im_start|>user<|i"
     "m_sep|>Who are you<|im_end|><|im_start|>assistant<|im_sep|>   I am "
     "an assistant   <|im_end|><|im_start|>user<|im_sep|>Another question<|im_end|><|im_start"
     "|>assistant<|im_sep|>"},
    {ENG_CHAT_PHI4, C_MULTI, 1, "phi4",
     "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_s"
     "ep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>Hi there<|im_end|><|im_start|>user<|i"
     "m_sep|>Who are you<|im_end|><|im_start|>assistant<|im_sep|>   I am "
     "an assistant   <|im_end|><|im_start|>user<|im_sep|>Another question<|im_end|><|im_start"
     "|>assistant<|im_sep|>"},
    {ENG_CHAT_PHI4, C_SPACES, 0, "phi4",
     "<|im_start|>user<|im_sep|> Hello <|im_end|><|im_start|>assistant<|im_sep|>Hi "
     "there<|im_end|><|im_start|>user<|im_sep|>Who are you?\n"
     "<|im_end|><|im_start|>assistant<|im_sep|>"},
    {ENG_CHAT_PHI4, C_SPACES, 1, "phi4",
     "<|im_start|>user<|im_sep|> Hello <|im_end|><|im_start|>assistant<|im_sep|>Hi "
     "there<|im_end|><|im_start|>user<|im_sep|>Who are you?\n"
     "<|im_end|><|im_start|>assistant<|im_sep|>"},
    {ENG_CHAT_PHI4, C_ENDS_ASST, 0, "phi4",
     "<|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>Hi "
     "there<|im_end|>"},
    {ENG_CHAT_PHI4, C_ENDS_ASST, 1, "phi4",
     "<|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>Hi "
     "there<|im_end|>"},
    {ENG_CHAT_COMMAND_R, C_USER, 0, "command_r",
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_USER, 1, "command_r",
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><"
     "|CHATBOT_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_SYS_USER, 0, "command_r",
     "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant<|END_OF_TURN_TOKEN|>"
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_SYS_USER, 1, "command_r",
     "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant<|END_OF_TURN_TOKEN|>"
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><"
     "|CHATBOT_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_MULTI, 0, "command_r",
     "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant<|END_OF_TURN_TOKEN|>"
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><"
     "|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who "
     "are you<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>I "
     "am an assistant<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Another "
     "question<|END_OF_TURN_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_MULTI, 1, "command_r",
     "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant<|END_OF_TURN_TOKEN|>"
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><"
     "|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who "
     "are you<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>I "
     "am an assistant<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Another "
     "question<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_SPACES, 0, "command_r",
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><"
     "|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who "
     "are you?<|END_OF_TURN_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_SPACES, 1, "command_r",
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><"
     "|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who "
     "are you?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_ENDS_ASST, 0, "command_r",
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><"
     "|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|>"},
    {ENG_CHAT_COMMAND_R, C_ENDS_ASST, 1, "command_r",
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><"
     "|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
};
/* clang-format on */

static int check_case(const struct render_case *rc)
{
    struct buf out;
    char err[FIEF_ERR_LEN] = "";
    buf_init(&out);
    int rv = eng_chat_apply(rc->f, convs[rc->c].msgs, convs[rc->c].n, rc->add_assistant, &out, err);
    int bad = rv != 0 || strcmp(out.data, rc->want) != 0;
    if (bad)
        print_error("%s/%s/add=%d (ref %s): rc %d %s\n  got:  \"%s\"\n  want: \"%s\"\n",
                    eng_chat_family_name(rc->f), convs[rc->c].name, rc->add_assistant,
                    rc->ref ? rc->ref : "convention", rv, err, out.data ? out.data : "", rc->want);
    buf_deinit(&out);
    return bad;
}

static void test_render_all_families(void **state)
{
    (void)state;
    enum { N = sizeof render_cases / sizeof render_cases[0] };
    static bool seen[ENG_CHAT_COUNT][C_COUNT][2];
    int bad = 0;
    assert_int_equal(N, ENG_CHAT_COUNT * C_COUNT * 2); /* every family, both ways */
    for (size_t i = 0; i < N; i++) {
        const struct render_case *rc = &render_cases[i];
        assert_false(seen[rc->f][rc->c][rc->add_assistant]);
        seen[rc->f][rc->c][rc->add_assistant] = true;
        bad += check_case(rc);
    }
    assert_int_equal(bad, 0);
}

/* ---- conventions and edges ---------------------------------------------- */

/* Render msgs in family f and compare. */
static void expect(enum eng_chat_family f, const struct eng_chat_msg *msgs, size_t n, bool add,
                   const char *want)
{
    struct buf out;
    char err[FIEF_ERR_LEN] = "";
    buf_init(&out);
    assert_int_equal(eng_chat_apply(f, msgs, n, add, &out, err), 0);
    assert_string_equal(out.data, want);
    buf_deinit(&out);
}

#define EXPECT(f, msgs, add, want) expect(f, msgs, sizeof msgs / sizeof msgs[0], add, want)

/* A system message with no user message after it becomes an empty user turn
 * in the folding families. The Llama 2 and Gemma 3 templates render
 * [system "S", user ""] to exactly these (Jinja2 checked); Llama 2 strips the
 * folded text as a whole, eating the blank line after <</SYS>>. */
static void test_lone_system(void **state)
{
    (void)state;
    static const struct eng_chat_msg m[] = {{"system", "S"}};
    EXPECT(ENG_CHAT_LLAMA2, m, true, "[INST] <<SYS>>\nS\n<</SYS>> [/INST]");
    EXPECT(ENG_CHAT_GEMMA, m, true,
           "<start_of_turn>user\nS\n\n<end_of_turn>\n<start_of_turn>model\n");
    EXPECT(ENG_CHAT_MISTRAL_V3, m, false, "[INST] S\n\n[/INST]");
}

/* Later system messages: folded into the next user turn (first-fold
 * families), all onto the last user turn (Mistral v3, several joined by a
 * blank line), or a turn of their own after the Llama 3.1 preamble. */
static void test_late_system(void **state)
{
    (void)state;
    static const struct eng_chat_msg m[] = {
        {"system", "S1"}, {"user", "A"}, {"assistant", "B"}, {"system", "S2"}, {"user", "C"},
    };
    EXPECT(ENG_CHAT_GEMMA, m, false,
           "<start_of_turn>user\nS1\n\nA<end_of_turn>\n<start_of_turn>model\nB<end_of_turn>\n"
           "<start_of_turn>user\nS2\n\nC<end_of_turn>\n");
    EXPECT(ENG_CHAT_MISTRAL_V3, m, false, "[INST] A[/INST] B</s>[INST] S1\n\nS2\n\nC[/INST]");
    EXPECT(ENG_CHAT_LLAMA31, m, false,
           "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
           "Today Date: 26 Jul 2024\n\nS1<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nA<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nB<|eot_id|>"
           "<|start_header_id|>system<|end_header_id|>\n\nS2<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nC<|eot_id|>");
}

/* Phi-3.5 skips an empty system message (its template tests the content). */
static void test_phi3_empty_system(void **state)
{
    (void)state;
    static const struct eng_chat_msg m[] = {{"system", ""}, {"user", "Hi"}};
    EXPECT(ENG_CHAT_PHI3, m, true, "<|user|>\nHi<|end|>\n<|assistant|>\n");
}

/* Jinja's trim is Python's str.strip(): Unicode whitespace goes (U+00A0,
 * U+3000, U+2028, U+0085), U+200B and lone bytes of broken UTF-8 stay. */
static void test_trim_is_python_strip(void **state)
{
    (void)state;
    static const struct eng_chat_msg ws[] = {{"user", "\xc2\xa0\xe3\x80\x80 Hi\t\xe2\x80\xa8"}};
    static const struct eng_chat_msg keep[] = {{"user", "\xe2\x80\x8bHi\xc2\x85"}};
    static const struct eng_chat_msg broken[] = {{"user", "\xa0Hi\xc2"}};
    static const struct eng_chat_msg blank[] = {{"user", " \n\t "}};
    const char *h = "<|start_header_id|>user<|end_header_id|>\n\n";
    char want[128];
    EXPECT(ENG_CHAT_LLAMA3, ws, false, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
    snprintf(want, sizeof want, "%s\xe2\x80\x8bHi<|eot_id|>", h);
    EXPECT(ENG_CHAT_LLAMA3, keep, false, want);
    snprintf(want, sizeof want, "%s\xa0Hi\xc2<|eot_id|>", h);
    EXPECT(ENG_CHAT_LLAMA3, broken, false, want);
    snprintf(want, sizeof want, "%s<|eot_id|>", h);
    EXPECT(ENG_CHAT_LLAMA3, blank, false, want);
}

/* Output is appended; BOS text that Llama 2 puts before later user turns is
 * still left out at the start of this call's output. */
static void test_appends(void **state)
{
    (void)state;
    static const struct eng_chat_msg m[] = {{"user", "Hello"}};
    struct buf out;
    char err[FIEF_ERR_LEN];
    buf_init(&out);
    buf_puts(&out, "PREFIX");
    assert_int_equal(eng_chat_apply(ENG_CHAT_LLAMA2, m, 1, true, &out, err), 0);
    assert_string_equal(out.data, "PREFIX[INST] Hello [/INST]");
    buf_deinit(&out);
}

/* ---- errors ------------------------------------------------------------- */

/* The call must fail with FIEF_EINVAL, say why (err contains what), and
 * leave the buffer as it was. */
static void expect_einval(enum eng_chat_family f, const struct eng_chat_msg *msgs, size_t n,
                          const char *what)
{
    struct buf out;
    char err[FIEF_ERR_LEN] = "";
    buf_init(&out);
    buf_puts(&out, "keep");
    assert_int_equal(eng_chat_apply(f, msgs, n, true, &out, err), FIEF_EINVAL);
    assert_string_equal(out.data, "keep");
    if (!strstr(err, what))
        print_error("err \"%s\" does not mention \"%s\"\n", err, what);
    assert_non_null(strstr(err, what));
    buf_deinit(&out);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct eng_chat_msg tool[] = {{"user", "Hi"}, {"tool", "42"}};
    static const struct eng_chat_msg upper[] = {{"User", "Hi"}};
    static const struct eng_chat_msg no_content[] = {{"user", NULL}};
    static const struct eng_chat_msg no_role[] = {{NULL, "Hi"}};
    char err[FIEF_ERR_LEN];
    expect_einval(ENG_CHAT_CHATML, tool, 0, "no messages");
    expect_einval(ENG_CHAT_CHATML, NULL, 3, "no messages");
    expect_einval(ENG_CHAT_CHATML, tool, 2, "\"tool\"");
    expect_einval(ENG_CHAT_LLAMA3, upper, 1, "\"User\"");
    expect_einval(ENG_CHAT_GEMMA, no_content, 1, "no content");
    expect_einval(ENG_CHAT_PLAIN, no_role, 1, "no role");
    expect_einval(ENG_CHAT_COUNT, upper, 1, "family");
    expect_einval((enum eng_chat_family) - 1, upper, 1, "family");
    assert_int_equal(eng_chat_apply(ENG_CHAT_CHATML, tool, 1, true, NULL, err), FIEF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_real_templates),
        cmocka_unit_test(test_detect_gguf_template),
        cmocka_unit_test(test_family_names),
        cmocka_unit_test(test_render_all_families),
        cmocka_unit_test(test_lone_system),
        cmocka_unit_test(test_late_system),
        cmocka_unit_test(test_phi3_empty_system),
        cmocka_unit_test(test_trim_is_python_strip),
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
