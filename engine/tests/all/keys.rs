//! No key accepted in silence: every key of the JSON Schema either acts — with the test that
//! proves it named here — or is reported by `validate` (`inert-key`, from the one registry in
//! `workflow/inert.rs`). A new key in the schema fails
//! `every_schema_key_acts_or_is_reported` until it is classified.

use std::collections::BTreeSet;

use ralph_loop::workflow::inert::{INERT_KEYS, matches};
use ralph_loop::workflow::schema::{SchemaKind, generate};

use crate::support::{events, project, ralph, repo};

/// A table of keys with the proof that each acts: (key, test name).
type Proofs = &'static [(&'static str, &'static str)];

/// Where a retry policy can be written, with the test that proves a policy there is used.
const POLICY_AT: &[(&str, &str)] = &[
    ("retry", "a_step_finds_its_policy_in_order"),
    ("retry.*", "a_step_finds_its_policy_in_order"),
    ("agents.*.retry_policy", "a_step_finds_its_policy_in_order"),
    ("workflow.states[].retry", "a_step_finds_its_policy_in_order"),
    (
        "workflow.nodes[].retry",
        "an_agent_that_fails_twice_then_succeeds_finishes_with_its_attempts_and_delays_recorded",
    ),
    ("workflow.steps[].retry", "a_step_finds_its_policy_in_order"),
];

/// A retry policy's keys, wherever it is written.
const POLICY_KEYS: &[(&str, &str)] = &[
    ("strategy", "linear_and_fixed"),
    ("max_attempts", "max_attempts_counts_the_first_attempt"),
    ("base_delay", "exponential_doubles_up_to_the_cap"),
    ("max_delay", "exponential_doubles_up_to_the_cap"),
    ("delay", "linear_and_fixed"),
    ("jitter", "jitter_stays_within_its_fraction"),
    ("retry_on", "classes_and_aliases_choose_what_is_retried"),
    ("non_retryable", "classes_and_aliases_choose_what_is_retried"),
    ("initial_interval", "exponential_doubles_up_to_the_cap"),
    ("backoff_coefficient", "exponential_doubles_up_to_the_cap"),
    ("max_interval", "exponential_doubles_up_to_the_cap"),
];

/// Where actions are written (each as one action or a list of them).
const ACTIONS_AT: &[(&str, &str)] = &[
    ("workflow.states[].on_enter", "hooks_run_around_a_state_and_a_review_timeout_auto_approves"),
    ("workflow.states[].on_exit", "hooks_run_around_a_state_and_a_review_timeout_auto_approves"),
    ("workflow.states[].on_timeout", "hooks_run_around_a_state_and_a_review_timeout_auto_approves"),
    ("circuit_breaker.on_open", "pause_loop_on_open_pauses_until_the_breaker_lets_its_probe_through"),
    ("circuit_breaker.on_close", "pause_loop_on_open_pauses_until_the_breaker_lets_its_probe_through"),
    (
        "compensation.on_failure",
        "a_failed_saga_compensates_in_reverse_and_git_reset_restores_the_tree_keeping_the_work_in_a_ref",
    ),
];

/// An action's keys.
const ACTION_KEYS: &[(&str, &str)] = &[
    ("action", "hooks_run_around_a_state_and_a_review_timeout_auto_approves"),
    ("args", "the_command_action_runs_args_run"),
    ("notify", "an_actions_notify_true_records_its_end_as_a_notification"),
];

/// Where exporters are written.
const EXPORTERS_AT: &[(&str, &str)] = &[
    ("observability.exporters.*", "an_otlp_exporter_in_ralph_yaml_sends_traces_and_metrics"),
    ("observability.metrics.exporters[]", "the_seeds_jaeger_ui_endpoint_sends_otlp_to_its_host"),
];

/// An exporter's keys (`region` is in the inert registry).
const EXPORTER_KEYS: &[(&str, &str)] = &[
    ("type", "metrics_are_served_on_loopback_unless_an_address_says_otherwise"),
    ("endpoint", "an_otlp_exporter_in_ralph_yaml_sends_traces_and_metrics"),
    ("port", "a_prometheus_port_is_the_engines_own_endpoint_not_prometheus"),
    ("protocol", "a_run_seen_by_an_otlp_receiver_has_its_full_span_tree_over_grpc_and_over_http"),
    ("headers", "an_otlp_exporter_in_ralph_yaml_sends_traces_and_metrics"),
    ("headers.*", "an_otlp_exporter_in_ralph_yaml_sends_traces_and_metrics"),
];

/// Where log rotation is written.
const ROTATION_AT: &[(&str, &str)] = &[
    ("logging.rotation", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("logging.step_logs", "a_flood_of_output_leaves_a_log_rotated_at_its_cap_with_the_tail_kept"),
    ("observability.logs.rotation", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
];

const ROTATION_KEYS: &[(&str, &str)] = &[
    ("max_size", "a_flood_of_output_leaves_a_log_rotated_at_its_cap_with_the_tail_kept"),
    ("max_files", "a_flood_of_output_leaves_a_log_rotated_at_its_cap_with_the_tail_kept"),
];

/// Where retention is written.
const RETENTION_AT: &[(&str, &str)] = &[
    ("state.retention", "snapshots_are_kept_up_to_the_retention_count"),
    ("state.snapshots.retention", "snapshots_are_kept_up_to_the_retention_count"),
];

const RETENTION_KEYS: &[(&str, &str)] = &[
    ("count", "snapshots_are_kept_up_to_the_retention_count"),
    ("age", "snapshots_past_the_journal_are_hidden_and_retention_drops_the_oldest"),
];

/// The two forms of a plugin in `plugins:`.
const PLUGINS_AT: &[(&str, &str)] = &[
    ("plugins[]", "the_secret_guard_vetoes_a_step_whose_diff_adds_a_credential"),
    ("plugins.installed[]", "install_from_a_registry_picks_the_highest_matching_version"),
];

const PLUGIN_KEYS: &[(&str, &str)] = &[
    ("name", "the_secret_guard_vetoes_a_step_whose_diff_adds_a_credential"),
    ("hooks", "the_metrics_exporter_reports_each_phase"),
    ("config", "the_budget_guard_vetoes_the_invocation_that_would_pass_its_budget"),
    ("enabled", "a_listed_plugin_is_switched_in_ralph_yaml_not_by_enable"),
    ("capabilities", "a_granted_veto_fails_the_step_and_an_ungranted_one_is_ignored_and_logged"),
    ("on_error", "a_plugin_that_fails_closed_vetoes_and_a_disabled_one_stops_the_run"),
    ("timeout", "hostile_plugins_are_stopped_by_their_limits_and_the_run_goes_on_when_they_fail_open"),
    ("memory", "hostile_plugins_are_stopped_by_their_limits_and_the_run_goes_on_when_they_fail_open"),
    ("fuel", "hostile_plugins_are_stopped_by_their_limits_and_the_run_goes_on_when_they_fail_open"),
    ("max_failures", "a_plugin_that_fails_closed_vetoes_and_a_disabled_one_stops_the_run"),
];

/// Every other key that acts, with its proof: a test's name, or a data-driven case
/// (`cases/<kind>/<file>.yaml`) whose expected output shows the key at work.
const ACTS: &[(&str, &str)] = &[
    ("version", "cases/invalid/53-unsupported-version.yaml"),
    ("name", "workflow_list_shows_type_and_description"),
    ("loop", "max_iterations_bounds_invocations_across_tasks_and_commit_needs_git"),
    ("loop.workflow", "loop_runs_the_workflow_ralph_yaml_names_and_says_how_to_choose_when_none_is"),
    ("loop.max_iterations", "max_iterations_bounds_invocations_across_tasks_and_commit_needs_git"),
    ("loop.max_runtime", "max_runtime_stops_the_loop_between_steps"),
    ("loop.auto_commit", "auto_commit_commits_each_task_like_commit_and_a_terminal_state_ends_the_run"),
    ("loop.commit_message", "commit_makes_one_commit_per_task_with_the_configured_message"),
    (
        "loop.parallel_agents",
        "parallel_agents_false_runs_one_agent_at_a_time_in_a_dag_and_in_a_parallel_state",
    ),
    ("loop.backend", "ralph_yaml_in_the_project_defines_agents_for_workflows"),
    ("loop.tasks", "tasks_json_follows_priority_and_dependencies_and_keeps_its_formatting"),
    ("roles", "fifty_tasks_run_by_role_and_an_ideas_agent_adds_twenty_that_run_in_score_order"),
    ("roles.*", "fifty_tasks_run_by_role_and_an_ideas_agent_adds_twenty_that_run_in_score_order"),
    ("roles.*.agent", "an_evaluator_sends_a_task_back_at_most_max_send_backs_times"),
    (
        "roles.*.workflow",
        "a_role_with_a_workflow_of_its_own_runs_its_tasks_in_it_and_a_killed_loop_resumes_there",
    ),
    ("roles.*.max_send_backs", "an_evaluator_sends_a_task_back_at_most_max_send_backs_times"),
    ("routing", "a_stuck_loop_escalates_to_the_stronger_model_and_back_and_routing_sends_planning_elsewhere"),
    (
        "routing.*",
        "a_stuck_loop_escalates_to_the_stronger_model_and_back_and_routing_sends_planning_elsewhere",
    ),
    ("routing.*.agent", "routing_and_escalation_written_out_pick_a_backend_with_its_server_or_another_agent"),
    (
        "routing.*.backend",
        "routing_and_escalation_written_out_pick_a_backend_with_its_server_or_another_agent",
    ),
    ("routing.*.model", "routing_and_escalation_written_out_pick_a_backend_with_its_server_or_another_agent"),
    (
        "routing.*.base_url",
        "routing_and_escalation_written_out_pick_a_backend_with_its_server_or_another_agent",
    ),
    (
        "routing.*.api_key_env",
        "routing_and_escalation_written_out_pick_a_backend_with_its_server_or_another_agent",
    ),
    (
        "escalation",
        "a_stuck_loop_escalates_to_the_stronger_model_and_back_and_routing_sends_planning_elsewhere",
    ),
    (
        "escalation.trigger_after",
        "a_stuck_loop_escalates_to_the_stronger_model_and_back_and_routing_sends_planning_elsewhere",
    ),
    (
        "escalation.model",
        "a_stuck_loop_escalates_to_the_stronger_model_and_back_and_routing_sends_planning_elsewhere",
    ),
    (
        "escalation.agent",
        "routing_and_escalation_written_out_pick_a_backend_with_its_server_or_another_agent",
    ),
    ("escalation.backend", "every_choice_decide_can_make_is_resolved_up_front"),
    ("escalation.base_url", "every_choice_decide_can_make_is_resolved_up_front"),
    ("escalation.api_key_env", "every_choice_decide_can_make_is_resolved_up_front"),
    ("escalation.human", "a_human_escalation_pauses_the_stuck_loop_until_a_person_resumes_it"),
    ("timeouts", "an_initial_state_named_conditions_and_timeouts_by_agent_act"),
    ("timeouts.*", "an_initial_state_named_conditions_and_timeouts_by_agent_act"),
    ("logging", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("logging.level", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("logging.file", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("logging.format", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("plugins", "the_secret_guard_vetoes_a_step_whose_diff_adds_a_credential"),
    ("plugins[].entry", "the_secret_guard_vetoes_a_step_whose_diff_adds_a_credential"),
    ("plugins.registry", "install_from_a_registry_picks_the_highest_matching_version"),
    ("plugins.registry[].name", "install_from_a_registry_picks_the_highest_matching_version"),
    ("plugins.registry[].url", "install_from_a_registry_picks_the_highest_matching_version"),
    ("plugins.installed", "install_from_a_registry_picks_the_highest_matching_version"),
    ("plugins.installed[].version", "install_from_a_registry_picks_the_highest_matching_version"),
    ("plugins.installed[].from", "install_from_a_registry_picks_the_highest_matching_version"),
    ("workflow", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.type", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.name", "a_run_is_a_tree_of_spans_named_by_the_genai_and_cicd_conventions"),
    ("workflow.initial", "an_initial_state_named_conditions_and_timeouts_by_agent_act"),
    ("workflow.terminal", "auto_commit_commits_each_task_like_commit_and_a_terminal_state_ends_the_run"),
    ("workflow.states", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.states[].id", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.states[].type", "a_parallel_state_with_require_all_needs_every_agent"),
    ("workflow.states[].agent", "the_plan_and_the_checks_agree_on_a_states_implicit_agent"),
    ("workflow.states[].agents", "a_parallel_state_with_require_all_needs_every_agent"),
    ("workflow.states[].require_all", "a_parallel_state_with_require_all_needs_every_agent"),
    ("workflow.states[].parallel", "a_parallel_state_with_require_all_needs_every_agent"),
    ("workflow.states[].timeout", "hooks_run_around_a_state_and_a_review_timeout_auto_approves"),
    ("workflow.states[].ui", "a_web_review_form_renders_its_template_and_decides_through_the_api"),
    ("workflow.states[].ui.type", "a_web_review_form_renders_its_template_and_decides_through_the_api"),
    ("workflow.states[].ui.template", "a_web_review_form_renders_its_template_and_decides_through_the_api"),
    ("workflow.transitions", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.transitions[].from", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.transitions[].to", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.transitions[].condition", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.transitions[].else", "a_state_machine_follows_outcomes_else_edges_and_counts_retries"),
    ("workflow.nodes", "independent_dag_nodes_run_in_parallel"),
    ("workflow.nodes[].id", "independent_dag_nodes_run_in_parallel"),
    ("workflow.nodes[].agent", "independent_dag_nodes_run_in_parallel"),
    ("workflow.nodes[].depends_on", "a_failed_node_skips_its_descendants_and_fails_the_run"),
    (
        "workflow.nodes[].condition",
        "a_dag_of_quiet_commands_asks_git_once_for_its_work_tree_and_a_condition_on_the_branch_looks",
    ),
    ("workflow.nodes[].timeout", "a_dag_node_or_saga_step_past_its_timeout_fails_and_a_saga_is_compensated"),
    ("workflow.nodes[].continue_on", "a_failed_node_skips_its_descendants_and_fails_the_run"),
    ("workflow.steps", "a_saga_whose_third_step_fails_compensates_the_first_two_in_reverse_order"),
    ("workflow.steps[].name", "a_saga_whose_third_step_fails_compensates_the_first_two_in_reverse_order"),
    ("workflow.steps[].action", "a_saga_whose_third_step_fails_compensates_the_first_two_in_reverse_order"),
    (
        "workflow.steps[].compensate",
        "a_saga_whose_third_step_fails_compensates_the_first_two_in_reverse_order",
    ),
    ("workflow.steps[].timeout", "a_dag_node_or_saga_step_past_its_timeout_fails_and_a_saga_is_compensated"),
    ("agents", "agents_get_their_files_and_report_a_named_result"),
    ("agents.*", "agents_get_their_files_and_report_a_named_result"),
    (
        "agents.*.type",
        "an_agent_cannot_approve_its_own_review_by_inbox_file_run_dir_file_or_cli_and_a_person_still_can",
    ),
    ("agents.*.prompt", "the_claude_backend_stacks_the_prompt_and_reads_the_stream"),
    ("agents.*.system_prompt", "stacks_system_agents_steering_and_role_in_that_order"),
    ("agents.*.backend", "the_codex_backend_reads_turn_completed_and_turn_failed"),
    ("agents.*.command", "agents_get_their_files_and_report_a_named_result"),
    ("agents.*.model", "an_open_breaker_escalates_to_a_named_agent_on_another_model_and_the_probe_closes_it"),
    ("agents.*.temperature", "a_streamed_reply_is_logged_summarised_and_counted"),
    ("agents.*.timeout", "a_hung_agent_is_killed_at_its_timeout"),
    ("agents.*.heartbeat_timeout", "an_agent_silent_past_its_heartbeat_timeout_is_hung_and_killed"),
    ("agents.*.max_retries", "a_step_finds_its_policy_in_order"),
    ("agents.*.on_failure", "the_planner_gets_every_failure_and_the_seeds_retries_edge_reaches_human_review"),
    ("agents.*.condition", "conditional_agents_follow_the_files_the_run_changed"),
    ("agents.*.tools", "tools_are_allowed_tools_and_args_follow"),
    ("agents.*.hooks", "a_hook_agent_runs_at_its_hook_with_the_hooks_context_in_its_packet"),
    ("agents.*.check", "a_check_command_decides_success_and_chains_run_in_order"),
    ("agents.*.reads_packet", "a_script_that_reads_the_packet_gets_it_with_reads_packet"),
    ("agents.*.approver", "an_approver_agent_may_decide_a_review_from_inside_its_step"),
    ("agents.*.args", "tools_are_allowed_tools_and_args_follow"),
    ("agents.*.env", "agents_see_their_task_and_iteration_in_the_environment_alongside_their_own_variables"),
    (
        "agents.*.env.*",
        "agents_see_their_task_and_iteration_in_the_environment_alongside_their_own_variables",
    ),
    ("agents.*.base_url", "the_openai_backend_streams_from_a_local_server_and_reads_the_status_block"),
    ("agents.*.api_key_env", "the_openai_backend_streams_from_a_local_server_and_reads_the_status_block"),
    ("chains", "a_check_command_decides_success_and_chains_run_in_order"),
    ("chains.*", "a_check_command_decides_success_and_chains_run_in_order"),
    ("conditions", "an_initial_state_named_conditions_and_timeouts_by_agent_act"),
    ("conditions.*", "an_initial_state_named_conditions_and_timeouts_by_agent_act"),
    ("budget", "a_loop_over_budget_stops_before_the_invocation_and_a_restart_keeps_the_spend"),
    ("budget.max_cost_usd", "a_loop_over_budget_stops_before_the_invocation_and_a_restart_keeps_the_spend"),
    ("budget.daily_cost_usd", "spend_is_counted_by_day_and_the_average_is_per_reporting_invocation"),
    ("budget.calls_per_hour", "cooldown_and_calls_per_hour_make_the_loop_wait"),
    ("budget.cooldown", "cooldown_and_calls_per_hour_make_the_loop_wait"),
    ("budget.usage_limit_wait", "a_usage_limit_in_each_backends_format_makes_the_loop_wait_not_fail"),
    (
        "circuit_breaker",
        "an_always_failing_agent_is_stopped_by_the_breaker_and_status_says_why_even_after_a_restart",
    ),
    (
        "circuit_breaker.enabled",
        "an_always_failing_agent_is_stopped_by_the_breaker_and_status_says_why_even_after_a_restart",
    ),
    (
        "circuit_breaker.failure_threshold",
        "an_always_failing_agent_is_stopped_by_the_breaker_and_status_says_why_even_after_a_restart",
    ),
    ("circuit_breaker.failure_rate", "a_failure_rate_over_a_full_window_opens_it"),
    ("circuit_breaker.window", "a_failure_rate_over_a_full_window_opens_it"),
    (
        "circuit_breaker.timeout",
        "after_its_timeout_the_breaker_lets_a_probe_through_and_a_probe_that_times_out_opens_it_again",
    ),
    ("circuit_breaker.half_open_max_calls", "consecutive_failures_open_it_and_its_timeout_half_opens_it"),
    (
        "circuit_breaker.half_open_timeout",
        "after_its_timeout_the_breaker_lets_a_probe_through_and_a_probe_that_times_out_opens_it_again",
    ),
    ("circuit_breaker.no_progress_iterations", "the_same_error_and_idle_iterations_open_it_with_a_reason"),
    ("circuit_breaker.output_shrink", "output_shrinking_sharply_opens_the_breaker_with_a_reason"),
    ("circuit_breaker.same_error_threshold", "the_same_error_and_idle_iterations_open_it_with_a_reason"),
    (
        "compensation",
        "a_failed_saga_compensates_in_reverse_and_git_reset_restores_the_tree_keeping_the_work_in_a_ref",
    ),
    ("observability", "a_run_seen_by_an_otlp_receiver_has_its_full_span_tree_over_grpc_and_over_http"),
    ("observability.provider", "the_seeds_jaeger_ui_endpoint_sends_otlp_to_its_host"),
    ("observability.traces", "the_seeds_jaeger_ui_endpoint_sends_otlp_to_its_host"),
    (
        "observability.traces.enabled",
        "a_run_seen_by_an_otlp_receiver_has_its_full_span_tree_over_grpc_and_over_http",
    ),
    ("observability.traces.include_content", "planted_secrets_never_show_up_in_any_output"),
    ("observability.traces.sampling_rate", "the_sampling_rate_of_traces_is_read_and_the_environment_wins"),
    ("observability.metrics", "the_seeds_jaeger_ui_endpoint_sends_otlp_to_its_host"),
    ("observability.metrics.enabled", "the_seeds_jaeger_ui_endpoint_sends_otlp_to_its_host"),
    ("observability.metrics.exporters", "metrics_are_served_on_loopback_unless_an_address_says_otherwise"),
    ("observability.logs", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("observability.logs.enabled", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("observability.logs.level", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("observability.logs.format", "logging_settings_reach_the_log_file_and_the_flag_picks_the_format"),
    ("observability.exporters", "an_otlp_exporter_in_ralph_yaml_sends_traces_and_metrics"),
    ("observability.dashboard", "ralph_yaml_and_the_environment_say_where_the_services_are"),
    ("observability.dashboard.url", "ralph_yaml_and_the_environment_say_where_the_services_are"),
    ("notifications", "slack_and_webhook_channels_receive_the_runs_start_and_completion"),
    ("notifications.channels", "slack_and_webhook_channels_receive_the_runs_start_and_completion"),
    ("notifications.channels.*", "slack_and_webhook_channels_receive_the_runs_start_and_completion"),
    ("notifications.channels.*.type", "slack_and_webhook_channels_receive_the_runs_start_and_completion"),
    ("notifications.channels.*.webhook", "slack_and_webhook_channels_receive_the_runs_start_and_completion"),
    ("notifications.channels.*.url", "slack_and_webhook_channels_receive_the_runs_start_and_completion"),
    (
        "notifications.channels.*.channel",
        "a_slack_body_carries_the_text_and_the_channel_a_review_may_override",
    ),
    (
        "notifications.channels.*.smtp",
        "an_email_channel_sends_the_event_to_every_recipient_through_a_local_smtp_server",
    ),
    (
        "notifications.channels.*.from",
        "an_email_channel_sends_the_event_to_every_recipient_through_a_local_smtp_server",
    ),
    (
        "notifications.channels.*.to",
        "an_email_channel_sends_the_event_to_every_recipient_through_a_local_smtp_server",
    ),
    ("notifications.channels.*.port", "the_server_may_carry_its_port_and_defaults_to_submission"),
    (
        "notifications.channels.*.username",
        "an_email_channel_upgrades_with_starttls_logs_in_and_never_writes_the_password",
    ),
    (
        "notifications.channels.*.password",
        "an_email_channel_upgrades_with_starttls_logs_in_and_never_writes_the_password",
    ),
    (
        "notifications.channels.*.tls",
        "an_email_channel_upgrades_with_starttls_logs_in_and_never_writes_the_password",
    ),
    (
        "notifications.channels.*.tls.ca_file",
        "an_email_channel_upgrades_with_starttls_logs_in_and_never_writes_the_password",
    ),
    (
        "notifications.channels.*.tls.mode",
        "an_email_channel_sends_the_event_to_every_recipient_through_a_local_smtp_server",
    ),
    ("notifications.channels.*.secret", "slack_and_webhook_channels_receive_the_runs_start_and_completion"),
    ("workflow.states[].notification", "a_review_reminds_through_the_states_own_channel_until_it_is_decided"),
    (
        "workflow.states[].notification.slack",
        "a_review_reminds_through_the_states_own_channel_until_it_is_decided",
    ),
    (
        "workflow.states[].notification.mention",
        "a_review_reminds_through_the_states_own_channel_until_it_is_decided",
    ),
    (
        "workflow.states[].notification.email",
        "a_human_states_notification_overrides_the_review_routes_of_its_kind",
    ),
    ("workflow.states[].notification.webhook", "a_human_agents_own_notification_reaches_its_webhook"),
    (
        "workflow.states[].reminder_interval",
        "a_review_reminds_through_the_states_own_channel_until_it_is_decided",
    ),
    ("agents.*.notification", "a_human_agents_own_notification_reaches_its_webhook"),
    ("agents.*.notification.webhook", "a_human_agents_own_notification_reaches_its_webhook"),
    ("agents.*.notification.slack", "a_human_states_notification_overrides_the_review_routes_of_its_kind"),
    ("agents.*.notification.email", "a_human_states_notification_overrides_the_review_routes_of_its_kind"),
    ("agents.*.notification.mention", "a_human_states_notification_overrides_the_review_routes_of_its_kind"),
    ("notifications.channels.*.headers", "settings_expand_variables_and_a_missing_one_is_named"),
    ("notifications.channels.*.headers.*", "settings_expand_variables_and_a_missing_one_is_named"),
    ("notifications.events", "slack_and_webhook_channels_receive_the_runs_start_and_completion"),
    ("notifications.events.*", "a_failing_run_sends_on_failure"),
    ("notifications.events.*[].*", "a_review_waiting_sends_the_approve_and_reject_commands"),
    ("notifications.events.*[].*.mention", "a_review_waiting_sends_the_approve_and_reject_commands"),
    ("state", "snapshots_are_kept_up_to_the_retention_count"),
    ("state.persistence", "the_store_is_where_state_persistence_path_says_for_every_verb"),
    ("state.persistence.type", "a_key_that_acts_in_its_use_is_not_reported"),
    ("state.persistence.path", "the_store_is_where_state_persistence_path_says_for_every_verb"),
    ("state.snapshots", "snapshots_are_kept_up_to_the_retention_count"),
    ("state.snapshots.triggers", "snapshots_are_kept_up_to_the_retention_count"),
    (
        "state.snapshots.enabled",
        "snapshots_enabled_false_takes_none_and_an_interval_takes_them_between_triggers",
    ),
    (
        "state.snapshots.interval",
        "snapshots_enabled_false_takes_none_and_an_interval_takes_them_between_triggers",
    ),
];

/// Keys that say what something is for, to people reading the file (`workflow list` shows the
/// top-level ones); they change no behaviour and are not meant to.
const FOR_PEOPLE: &[&str] = &[
    "description",
    "project.description",
    "workflow.description",
    "workflow.states[].description",
    "workflow.transitions[].description",
    "workflow.nodes[].description",
    "workflow.steps[].description",
    "agents.*.description",
];

/// Keys that act (the code that reads them is named) but that no test proves yet: listed so
/// that the gap is visible, and never to grow (a new key must come with its test).
const ACTS_UNPROVEN: &[(&str, &str)] = &[
    ("plugins.auto_discover", "plugin/catalog.rs loads every plugin of `directory`"),
    ("plugins.directory", "plugin/catalog.rs and `plugin install` read and write plugins there"),
    ("project", "cli/run.rs gives telemetry the project's name"),
    ("project.name", "telemetry/pipeline.rs sets the `ralph.project.name` resource attribute"),
    ("budget.max_tokens", "run/guard.rs checks the tokens spent before each AI invocation"),
    ("budget.prices", "run/steps.rs `price` costs tokens by the model's price"),
    ("budget.prices.*", "run/steps.rs `price`"),
    ("budget.prices.*.input", "run/steps.rs `price`"),
    ("budget.prices.*.output", "run/steps.rs `price`"),
];

/// Every key path of the schema: `a.b`, `*` for a map's entries, `[]` for a list's items.
fn schema_keys() -> Vec<String> {
    let schema = generate(SchemaKind::Config);
    let defs = schema["$defs"].clone();
    let mut keys = Vec::new();
    walk(&schema, "", &defs, &mut Vec::new(), &mut keys);
    keys
}

fn walk(
    node: &serde_json::Value,
    path: &str,
    defs: &serde_json::Value,
    seen: &mut Vec<String>,
    keys: &mut Vec<String>,
) {
    let Some(object) = node.as_object() else { return };
    if let Some(name) = object.get("$ref").and_then(|r| r.as_str()).and_then(|r| r.rsplit('/').next()) {
        if seen.iter().any(|s| s == name) {
            return;
        }
        seen.push(name.to_owned());
        walk(&defs[name], path, defs, seen, keys);
        seen.pop();
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        for sub in object.get(combinator).and_then(|v| v.as_array()).into_iter().flatten() {
            walk(sub, path, defs, seen, keys);
        }
    }
    let add = |key: String, keys: &mut Vec<String>| {
        if !keys.contains(&key) {
            keys.push(key);
        }
    };
    for (name, sub) in object.get("properties").and_then(|p| p.as_object()).into_iter().flatten() {
        let key = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
        add(key.clone(), keys);
        walk(sub, &key, defs, seen, keys);
    }
    if let Some(items) = object.get("items").filter(|i| i.is_object()) {
        walk(items, &format!("{path}[]"), defs, seen, keys);
    }
    if let Some(values) = object.get("additionalProperties").filter(|v| v.is_object()) {
        let key = format!("{path}.*");
        add(key.clone(), keys);
        walk(values, &key, defs, seen, keys);
    }
}

/// Every key that acts, with its proof: the families expanded, then the single keys.
fn acting() -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let families: [(Proofs, Proofs); 6] = [
        (POLICY_AT, POLICY_KEYS),
        (ACTIONS_AT, ACTION_KEYS),
        (EXPORTERS_AT, EXPORTER_KEYS),
        (ROTATION_AT, ROTATION_KEYS),
        (RETENTION_AT, RETENTION_KEYS),
        (PLUGINS_AT, PLUGIN_KEYS),
    ];
    for (places, keys) in families {
        for (at, proof) in places {
            // An action is written alone or in a list; a list of plugins is itself a key.
            let bare = at.trim_end_matches("[]");
            out.push((bare.to_owned(), proof));
            for (key, proof) in keys {
                out.push((format!("{at}.{key}"), proof));
                if ACTIONS_AT.iter().any(|(a, _)| a == at) {
                    out.push((format!("{at}[].{key}"), proof));
                }
            }
        }
    }
    out.extend(ACTS.iter().map(|(k, p)| ((*k).to_owned(), *p)));
    out
}

/// Whether `key` is reported: it, or a key it is under, is in the inert registry.
fn reported(key: &str) -> bool {
    INERT_KEYS.iter().any(|inert| {
        key == inert.key
            || inert.with_children && key.strip_prefix(inert.key).is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The names of every test function of the integration tests and of the library's unit tests.
fn test_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![repo().join("engine/src"), repo().join("engine/tests/all")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let mut rest = text.as_str();
                while let Some(at) = rest.find("fn ") {
                    rest = &rest[at + 3..];
                    let name: String =
                        rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    names.insert(name);
                }
            }
        }
    }
    names
}

#[test]
fn every_schema_key_acts_or_is_reported() {
    let keys = schema_keys();
    assert!(keys.len() > 300, "the schema walk found only {} keys", keys.len());
    let acting = acting();
    let tests = test_names();
    let mut problems = Vec::new();
    for key in &keys {
        let acts: Vec<&str> = acting.iter().filter(|(k, _)| k == key).map(|(_, p)| *p).collect();
        let people = FOR_PEOPLE.contains(&key.as_str());
        let unproven = ACTS_UNPROVEN.iter().any(|(k, _)| k == key);
        let is_reported = reported(key);
        // Some keys act in some uses and are reported in others (`agents.*.temperature` acts
        // with `openai`): those are in both lists. Everything else is in exactly one.
        let conditional = INERT_KEYS.iter().any(|i| i.key == key && i.when != "always");
        let classes = usize::from(!acts.is_empty()) + usize::from(people) + usize::from(unproven);
        match (classes, is_reported) {
            (0, false) => problems.push(format!(
                "`{key}` is neither acting (add it to `ACTS` with the test that proves it) nor reported (add it to `INERT_KEYS` in engine/src/workflow/inert.rs)"
            )),
            (1.., true) if !conditional => {
                problems.push(format!("`{key}` is both acting and reported as having no effect"));
            }
            (2.., _) => problems.push(format!("`{key}` is classified more than once")),
            _ => {}
        }
        for proof in acts {
            let found = match proof.strip_prefix("cases/") {
                Some(case) => repo().join("engine/tests/cases").join(case).is_file(),
                None => tests.contains(proof),
            };
            if !found {
                problems.push(format!("`{key}`: its proof `{proof}` is no test or case"));
            }
        }
    }
    let listed = acting.iter().map(|(k, _)| k.as_str()).chain(FOR_PEOPLE.iter().copied());
    for key in listed.chain(ACTS_UNPROVEN.iter().map(|(k, _)| *k)) {
        if !keys.iter().any(|k| k == key) {
            problems.push(format!("`{key}` is classified but is no key of the schema"));
        }
    }
    for inert in INERT_KEYS {
        if !keys.iter().any(|k| k == inert.key) {
            problems.push(format!("inert key `{}` is no key of the schema", inert.key));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn every_inert_key_is_reported_by_validate_and_is_an_error_with_strict() {
    for inert in INERT_KEYS {
        let dir = project(&[("ralph.yaml", inert.example)]);
        let out = ralph(["workflow", "validate", "--json", "ralph.yaml"]).current_dir(dir.path()).output();
        assert_eq!(out.code, 0, "{}: {}{}", inert.key, out.stdout, out.stderr);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let diagnostics = report["files"][0]["diagnostics"].as_array().unwrap();
        let found = diagnostics.iter().find(|d| {
            d["code"] == "inert-key"
                && d["path"]
                    .as_str()
                    .is_some_and(|p| matches(inert.key, &ralph_loop::workflow::path::FieldPath::parse(p)))
        });
        let d = found.unwrap_or_else(|| panic!("{}: not reported in {diagnostics:#?}", inert.key));
        assert_eq!(d["severity"], "warning", "{}", inert.key);
        let text = d.to_string();
        assert!(
            text.contains(inert.instead.split('`').nth(1).unwrap_or(inert.instead)),
            "{}: {text}",
            inert.key
        );
        let strict =
            ralph(["workflow", "validate", "--strict", "ralph.yaml"]).current_dir(dir.path()).output();
        assert_eq!(strict.code, 3, "{}: --strict\n{}", inert.key, strict.stderr);
        assert!(strict.stderr.contains("error[inert-key]"), "{}: {}", inert.key, strict.stderr);
        // `loop` reports such a key and runs anyway: it is no reason not to run.
    }
}

#[test]
fn a_key_that_acts_in_its_use_is_not_reported() {
    let yaml = "agents:\n  local:\n    backend: openai\n    model: m\n    base_url: http://127.0.0.1:1/v1\n    temperature: 0.2\n  builder:\n    backend: claude\n    tools: [Read]\nobservability:\n  provider: opentelemetry\n  metrics:\n    exporters:\n      - type: prometheus\n        port: 9464\n  exporters:\n    otlp:\n      endpoint: http://127.0.0.1:4317\nstate:\n  persistence:\n    type: sled\n    path: mystore\nworkflow:\n  states:\n    - id: review\n      type: human\n      ui:\n        type: cli\n";
    let dir = project(&[("ralph.yaml", yaml)]);
    let out = ralph(["workflow", "validate", "--strict", "ralph.yaml"]).current_dir(dir.path()).output();
    assert!(!out.stderr.contains("inert-key"), "{}", out.stderr);
}

#[test]
fn the_store_is_where_state_persistence_path_says_for_every_verb() {
    let dir = project(&[
        ("ralph.yaml", "state:\n  persistence:\n    path: mystore\n"),
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"true\"\n",
        ),
    ]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    assert!(dir.path().join("mystore").is_dir(), "the store is `mystore`");
    assert!(!dir.path().join(".ralph/state").exists(), "nothing in the default store");
    let runs = ralph(["runs", "--json"]).current_dir(dir.path()).expect(0);
    let listed: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    let id = listed["runs"][0]["run_id"].as_str().map(str::to_owned);
    let id = id.unwrap_or_else(|| panic!("one run listed: {}", runs.stdout));
    let verbs: [&[&str]; 6] = [
        &["status"],
        &["inspect", "--phase", "a"],
        &["debug", "--iteration", "1"],
        &["logs"],
        &["metrics"],
        &["traces"],
    ];
    for verb in verbs {
        let out = ralph(verb).current_dir(dir.path()).output();
        assert_eq!(out.code, 0, "{verb:?} finds the run in `mystore`: {}{}", out.stdout, out.stderr);
    }
    assert!(ralph(["status"]).current_dir(dir.path()).expect(0).stdout.contains(&id));
    // From another directory, with the project named: the path is the project's.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = ralph(["-C", dir.path().to_str().unwrap(), "status"]).current_dir(elsewhere.path()).expect(0);
    assert!(out.stdout.contains(&id), "{}", out.stdout);
    // `--state-dir` still names another store for one command.
    let other = ralph(["--state-dir", "other", "runs"]).current_dir(dir.path()).output();
    assert!(!other.stdout.contains(&id), "{}", other.stdout);
    // In a workflow file, the key is reported: the other verbs would never find that store.
    let wf = project(&[(
        "w.yaml",
        "state:\n  persistence:\n    path: mystore\nworkflow:\n  nodes:\n    - id: a\n      agent: t\nagents:\n  t:\n    command: \"true\"\n",
    )]);
    let out = ralph(["workflow", "validate", "w.yaml"]).current_dir(wf.path()).expect(0);
    assert!(out.stderr.contains("`state.persistence.path` is read from `ralph.yaml` only"), "{}", out.stderr);
}

#[test]
fn parallel_agents_false_runs_one_agent_at_a_time_in_a_dag_and_in_a_parallel_state() {
    // Each agent marks itself running, waits a little, and fails if another one ran meanwhile:
    // with `parallel_agents: false` none ever overlaps, whatever `--jobs` would have allowed.
    let alone = "touch running.$$; sleep 0.3; n=$(ls running.* | wc -l); rm running.$$; test $n -eq 1";
    let agents = format!("agents:\n  alone:\n    command: \"{alone}\"\n");
    let dir = project(&[
        ("ralph.yaml", "loop:\n  parallel_agents: false\n"),
        (
            "dag.yaml",
            &format!(
                "workflow:\n  nodes:\n    - id: a\n      agent: alone\n    - id: b\n      agent: alone\n    - id: c\n      agent: alone\n{agents}"
            ),
        ),
        (
            "sm.yaml",
            &format!(
                "workflow:\n  states:\n    - id: check\n      type: parallel\n      agents: [alone, alone2, alone3]\n    - id: done\n      type: terminal\n{agents}  alone2:\n    command: \"{alone}\"\n  alone3:\n    command: \"{alone}\"\n"
            ),
        ),
    ]);
    let out = ralph(["loop", "--workflow", "dag.yaml", "--json"]).current_dir(dir.path()).expect(0);
    let finished = events(&out.stdout).iter().filter(|e| e["event"] == "step_finished").count();
    assert_eq!(finished, 3);
    ralph(["loop", "--workflow", "sm.yaml"]).current_dir(dir.path()).expect(0);
}

#[test]
fn an_actions_notify_true_records_its_end_as_a_notification() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  states:\n    - id: work\n      on_enter:\n        action: log\n        args: {message: starting}\n        notify: true\n    - id: done\n      type: terminal\nagents:\n  work:\n    command: \"true\"\n",
    )]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let runs = dir.path().join(".ralph/runs");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let log = std::fs::read_to_string(run.join("notifications.log")).unwrap();
    assert!(log.contains("[work] `log` ran: starting"), "{log}");
}

#[test]
fn an_initial_state_named_conditions_and_timeouts_by_agent_act() {
    let dir = project(&[(
        "w.yaml",
        "conditions:\n  fine: \"result == 'fine'\"\ntimeouts:\n  slow: 1s\nworkflow:\n  initial: second\n  states:\n    - id: first\n      agent: marker\n    - id: second\n      agent: judge\n    - id: third\n      agent: slow\n    - id: done\n      type: terminal\n  transitions:\n    - from: first\n      to: done\n    - from: second\n      to: third\n      condition: fine\n      else: done\n    - from: third\n      to: done\nagents:\n  marker:\n    command: \"touch first-ran\"\n  judge:\n    command: \"echo '{\\\"outcome\\\": \\\"fine\\\"}' > \\\"$RALPH_RESULT_FILE\\\"\"\n  slow:\n    command: \"sleep 30\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).output();
    let events = events(&out.stdout);
    assert!(!dir.path().join("first-ran").exists(), "`initial: second` skips `first`");
    let third = events.iter().find(|e| e["event"] == "step_finished" && e["step"] == "third");
    let third =
        third.unwrap_or_else(|| panic!("the named condition `fine` leads to `third`: {}", out.stdout));
    assert_eq!(third["outcome"]["class"], "timeout", "`timeouts.slow: 1s`: {third}");
}

#[test]
fn the_language_documentation_lists_every_inert_key() {
    let doc = std::fs::read_to_string(repo().join("docs/language.md")).unwrap();
    for inert in INERT_KEYS {
        assert!(doc.contains(&format!("`{}`", inert.key)), "docs/language.md does not list `{}`", inert.key);
    }
}

#[test]
fn snapshots_enabled_false_takes_none_and_an_interval_takes_them_between_triggers() {
    let workflow = |state: &str| {
        format!(
            "{state}workflow:\n  nodes:\n    - id: slow\n      agent: slow\n    - id: next\n      agent: quick\n      depends_on: slow\nagents:\n  slow:\n    command: \"sleep 0.3\"\n  quick:\n    command: \"true\"\n"
        )
    };
    let snapshots = |dir: &std::path::Path| -> Vec<serde_json::Value> {
        let out = ralph(["snapshots", "--json"]).current_dir(dir).expect(0);
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    };
    let off = project(&[(
        "w.yaml",
        &workflow("state:\n  snapshots:\n    enabled: false\n    triggers: [phase_complete, run_complete]\n"),
    )]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(off.path()).expect(0);
    assert!(snapshots(off.path()).is_empty(), "`enabled: false` takes no snapshot");
    // Only `run_complete` is a trigger; the interval passes while `slow` runs, so the next event
    // after it takes one.
    let every = project(&[(
        "w.yaml",
        &workflow("state:\n  snapshots:\n    triggers: [run_complete]\n    interval: 100ms\n"),
    )]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(every.path()).expect(0);
    let taken = snapshots(every.path());
    assert!(taken.iter().any(|s| s["trigger"] == "interval"), "{taken:?}");
    assert!(taken.iter().any(|s| s["trigger"] == "run_complete"), "{taken:?}");
}

#[test]
fn auto_commit_commits_each_task_like_commit_and_a_terminal_state_ends_the_run() {
    // `terminal: work` ends the run after `work`: without it, the next listed state would run.
    let dir = project(&[
        ("ralph.yaml", "loop:\n  auto_commit: true\n"),
        (
            "w.yaml",
            "workflow:\n  terminal: [work]\n  states:\n    - id: work\n      agent: worker\n    - id: extra\n      agent: never\nagents:\n  worker:\n    command: \"echo done >> work.txt\"\n  never:\n    command: \"touch extra-ran\"\n",
        ),
        ("TODO.md", "- [ ] one\n- [ ] two\n"),
    ]);
    crate::support::git_repo(dir.path());
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let log = crate::support::sh(dir.path(), "git log --format=%s");
    assert_eq!(log.lines().count(), 3, "one commit per task after the first: {log}");
    assert!(!dir.path().join("extra-ran").exists(), "`terminal: [work]` ends the run at `work`");
}

#[test]
fn a_dag_node_or_saga_step_past_its_timeout_fails_and_a_saga_is_compensated() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  steps:\n    - name: first\n      action: ok\n      compensate: undo\n    - name: slow\n      action: sleeper\n      timeout: 1s\nagents:\n  ok:\n    command: \"true\"\n  undo:\n    command: \"touch undone\"\n  sleeper:\n    command: \"sleep 30\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let slow = events(&out.stdout).into_iter().find(|e| e["event"] == "step_finished" && e["step"] == "slow");
    assert_eq!(slow.unwrap()["outcome"]["class"], "timeout");
    assert!(dir.path().join("undone").exists(), "the first step is compensated");
    let dag = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: slow\n      agent: sleeper\n      timeout: 1s\nagents:\n  sleeper:\n    command: \"sleep 30\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dag.path()).expect(1);
    let slow = events(&out.stdout).into_iter().find(|e| e["event"] == "step_finished" && e["step"] == "slow");
    assert_eq!(slow.unwrap()["outcome"]["class"], "timeout");
}
