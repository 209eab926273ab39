// Lookup: topics and channels registered in nsqlookupd with no producer
// ("inactive"; they can be deleted), and a form to create a topic (and
// optionally a channel) in every lookupd.

import { h, replace, link, enc, settings, actionButton } from "./dom.js";
import { get, act } from "./api.js";

const NAME = /^[.a-zA-Z0-9_-]+(#ephemeral)?$/;

export default function lookupPage() {
  const list = h("div", { "data-testid": "inactive" });
  const topicIn = h("input", { type: "text", name: "topic", placeholder: "topic", "aria-label": "Topic to create", autocomplete: "off" });
  const channelIn = h("input", { type: "text", name: "channel", placeholder: "channel (optional)", "aria-label": "Channel to create", autocomplete: "off" });
  const createBtn = actionButton("Create", async () => {
    const topic = topicIn.value.trim();
    const channel = channelIn.value.trim();
    if (!NAME.test(topic) || topic.length > 64 || (channel && (!NAME.test(channel) || channel.length > 64))) {
      replace(formMsg, "Names are 1-64 characters of letters, digits, . _ - (optionally #ephemeral).");
      return;
    }
    replace(formMsg, "");
    const what = channel ? `topic ${topic} and channel ${channel}` : `topic ${topic}`;
    if (await act(`Create ${what}?`, "POST", "/topics", channel ? { topic, channel } : { topic }, refresh)) {
      topicIn.value = "";
      channelIn.value = "";
    }
  });
  const formMsg = h("span", { class: "muted" });
  async function refresh() {
    if (!settings.lookupd_mode) {
      replace(list, h("p", { class: "muted" }, "nsqadmin runs with --nsqd-http-address: there is no nsqlookupd to ask."));
      return;
    }
    const r = await get("/topics?inactive=true");
    const names = Object.keys(r.topics).sort();
    if (!names.length) {
      replace(list, h("p", { class: "muted" }, "No inactive topics."));
      return;
    }
    replace(
      list,
      h(
        "ul",
        { class: "inactive" },
        names.map((t) =>
          h(
            "li",
            {},
            link("/topics/" + enc(t), t),
            " ",
            actionButton("Delete", () => act(`Delete inactive topic ${t}?`, "DELETE", "/topics/" + enc(t), undefined, refresh), "small"),
            (r.topics[t] || []).length
              ? h(
                  "ul",
                  {},
                  r.topics[t].map((c) =>
                    h("li", {}, c, " ", actionButton("Delete", () => act(`Delete inactive channel ${c} of ${t}?`, "DELETE", "/topics/" + enc(t) + "/" + enc(c), undefined, refresh), "small")),
                  ),
                )
              : null,
          ),
        ),
      ),
    );
  }
  return {
    title: "Lookup",
    interval: 5000,
    el: h(
      "section",
      {},
      h("h1", {}, "Lookup"),
      h("p", {}, "nsqlookupd: ", (settings.nsqlookupd || []).join(", ") || "none"),
      h("h2", {}, "Create topic / channel"),
      h("div", { class: "form" }, topicIn, " ", channelIn, " ", createBtn, " ", formMsg),
      h("h2", {}, "Inactive topics"),
      list,
    ),
    refresh,
  };
}
