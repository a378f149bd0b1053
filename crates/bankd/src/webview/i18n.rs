//! The webview's words, in English and French. Templates call `t("key", name=value)`: `{name}` in
//! the text is replaced (values are escaped by the template engine like any other output).
//!
//! A table in code rather than a translation crate: two languages and a hundred short strings, and
//! a missing key is caught by `every_key_has_both_languages` rather than at run time.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The first of the browser's languages the webview speaks (`Accept-Language`), else English.
    pub fn from_accept_language(header: &str) -> Lang {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .filter_map(|tag| Lang::parse(&tag.trim().get(..2)?.to_ascii_lowercase()))
            .next()
            .unwrap_or(Lang::En)
    }

    /// The text of `key` with its `{name}` placeholders filled (a missing key shows as itself).
    pub fn fill(self, key: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.text(key).unwrap_or(key).to_owned();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    pub fn text(self, key: &str) -> Option<&'static str> {
        let (_, en, fr) = TEXTS.iter().find(|(k, ..)| *k == key)?;
        Some(match self {
            Lang::En => en,
            Lang::Fr => fr,
        })
    }
}

/// (key, English, French).
const TEXTS: &[(&str, &str, &str)] = &[
    ("secured", "Secured by bankd for {app}", "Sécurisé par bankd pour {app}"),
    ("secured_plain", "Secured by bankd", "Sécurisé par bankd"),
    ("choose_bank", "Choose your bank", "Choisissez votre banque"),
    ("search_banks", "Search banks", "Rechercher une banque"),
    ("search", "Search", "Rechercher"),
    ("no_bank", "No bank matches your search.", "Aucune banque ne correspond à votre recherche."),
    ("connect_to", "Connect to {bank}", "Connexion à {bank}"),
    (
        "credentials_help",
        "Enter the details you use on {bank}'s website. They are sent to your bank only, encrypted.",
        "Saisissez les identifiants de votre espace en ligne {bank}. Ils ne sont transmis qu'à votre banque, chiffrés.",
    ),
    ("connect", "Connect", "Se connecter"),
    ("cancel", "Cancel", "Annuler"),
    ("continue", "Continue", "Continuer"),
    ("optional", "optional", "facultatif"),
    ("required", "required", "obligatoire"),
    (
        "upload_help",
        "Choose a statement file exported from your bank: OFX, camt.053, MT940, QIF or CSV.",
        "Choisissez un relevé exporté depuis votre banque : OFX, camt.053, MT940, QIF ou CSV.",
    ),
    ("file", "Statement file", "Fichier de relevé"),
    ("upload", "Import", "Importer"),
    ("more_info", "{bank} needs more information", "{bank} a besoin d'informations supplémentaires"),
    ("webauth_title", "Continue at {bank}", "Continuer chez {bank}"),
    (
        "webauth_help",
        "{bank} asks you to confirm on its own website. You will come back here afterwards.",
        "{bank} vous demande de confirmer sur son site. Vous reviendrez ici ensuite.",
    ),
    ("webauth_go", "Continue to {bank}", "Aller chez {bank}"),
    (
        "webauth_denied",
        "Access was not authorized at {bank}. You can try again.",
        "L'accès n'a pas été autorisé chez {bank}. Vous pouvez réessayer.",
    ),
    ("decoupled_title", "Validate in your banking app", "Validez dans votre application bancaire"),
    (
        "decoupled_help",
        "Open {bank}'s app on your phone and confirm the access. This page updates by itself.",
        "Ouvrez l'application {bank} sur votre téléphone et confirmez l'accès. Cette page se met à jour toute seule.",
    ),
    ("wait_title", "Connecting to {bank}…", "Connexion à {bank}…"),
    (
        "wait_help",
        "This takes a few seconds. This page updates by itself.",
        "Cela prend quelques secondes. Cette page se met à jour toute seule.",
    ),
    ("refresh", "Refresh", "Actualiser"),
    ("accounts_title", "Choose the accounts to share", "Choisissez les comptes à partager"),
    (
        "accounts_help",
        "{app} will see the balance and transactions of the accounts you tick, and nothing of the others.",
        "{app} verra le solde et les opérations des comptes que vous cochez, et rien des autres.",
    ),
    ("share", "Share selected accounts", "Partager les comptes sélectionnés"),
    ("no_account", "{bank} lists no account for you.", "{bank} n'indique aucun compte à votre nom."),
    ("returning", "Returning to {app}", "Retour vers {app}"),
    (
        "returning_help",
        "If nothing happens, use the button below.",
        "Si rien ne se passe, utilisez le bouton ci-dessous.",
    ),
    ("return_to", "Return to {app}", "Revenir vers {app}"),
    ("closed", "You can close this page.", "Vous pouvez fermer cette page."),
    ("reconnect_title", "Reconnect to {bank}", "Reconnexion à {bank}"),
    ("reconnect", "Reconnect", "Se reconnecter"),
    ("manage_title", "Your bank connections", "Vos connexions bancaires"),
    ("no_connection", "You have no bank connection yet.", "Vous n'avez encore aucune connexion bancaire."),
    ("add_bank", "Add a bank", "Ajouter une banque"),
    ("simplefin_button", "Connect a budgeting app (SimpleFIN)", "Connecter une application de budget (SimpleFIN)"),
    ("simplefin_title", "Your SimpleFIN setup token", "Votre jeton de configuration SimpleFIN"),
    (
        "simplefin_help",
        "Paste it into Actual Budget, Firefly III or Home Assistant within 24 hours. It works once: the app exchanges it for its own access, which it keeps.",
        "Collez-le dans Actual Budget, Firefly III ou Home Assistant dans les 24 heures. Il ne sert qu'une fois : l'application l'échange contre son propre accès, qu'elle garde.",
    ),
    ("back", "Back", "Retour"),
    ("close", "Close", "Fermer"),
    ("last_update", "Last update: {date}", "Dernière mise à jour : {date}"),
    ("never_updated", "Not updated yet", "Pas encore mise à jour"),
    ("accounts", "Accounts", "Comptes"),
    ("sources", "Ways to reach the bank", "Accès à la banque"),
    ("shared", "shared", "partagé"),
    (
        "balance_curve",
        "Balance over 90 days: {first} on {first_date}, {last} on {last_date}",
        "Solde sur 90 jours : {first} le {first_date}, {last} le {last_date}",
    ),
    ("not_shared", "not shared", "non partagé"),
    ("enable", "Enable", "Activer"),
    ("disable", "Disable", "Désactiver"),
    ("enabled", "enabled", "activé"),
    ("disabled", "disabled", "désactivé"),
    ("delete_connection", "Delete connection", "Supprimer la connexion"),
    ("delete_title", "Delete this connection?", "Supprimer cette connexion ?"),
    (
        "delete_help",
        "{app} will no longer see your accounts at {bank}, and their history is erased.",
        "{app} ne verra plus vos comptes chez {bank}, et leur historique est effacé.",
    ),
    ("delete", "Delete", "Supprimer"),
    ("try_again", "Try again", "Réessayer"),
    ("error_title", "This link cannot be used", "Ce lien ne peut pas être utilisé"),
    ("error_help", "Go back to the application and start again.", "Revenez à l'application et recommencez."),
    (
        "busy",
        "A synchronization of this connection is running. Try again in a moment.",
        "Une synchronisation de cette connexion est en cours. Réessayez dans un instant.",
    ),
    ("state_ok", "Up to date", "À jour"),
    (
        "state_wrongpass",
        "{bank} refused these credentials. Check them and try again.",
        "{bank} a refusé ces identifiants. Vérifiez-les et réessayez.",
    ),
    (
        "state_passwordExpired",
        "Your password at {bank} has expired. Choose a new one on its website, then enter it here.",
        "Votre mot de passe {bank} a expiré. Choisissez-en un nouveau sur son site, puis saisissez-le ici.",
    ),
    (
        "state_SCARequired",
        "{bank} asks you to confirm your identity again (at least every 180 days).",
        "{bank} vous demande de confirmer à nouveau votre identité (au moins tous les 180 jours).",
    ),
    (
        "state_webauthRequired",
        "{bank} asks you to confirm on its website.",
        "{bank} vous demande de confirmer sur son site.",
    ),
    (
        "state_additionalInformationNeeded",
        "{bank} needs more information from you.",
        "{bank} a besoin d'informations supplémentaires.",
    ),
    (
        "state_decoupled",
        "Waiting for your confirmation in {bank}'s app.",
        "En attente de votre confirmation dans l'application {bank}.",
    ),
    ("state_validating", "Synchronizing…", "Synchronisation…"),
    (
        "state_actionNeeded",
        "{bank} needs you to act on its website (new terms to accept, a message to read). Then try again.",
        "{bank} vous demande une action sur son site (nouvelles conditions, message à lire). Réessayez ensuite.",
    ),
    (
        "state_websiteUnavailable",
        "{bank} is unavailable right now. bankd will try again by itself.",
        "{bank} est indisponible pour le moment. bankd réessaiera de lui-même.",
    ),
    (
        "state_rateLimiting",
        "{bank} limits how often it can be reached. bankd will try again later.",
        "{bank} limite la fréquence des accès. bankd réessaiera plus tard.",
    ),
    (
        "state_bug",
        "Something went wrong while reading {bank}. bankd will try again.",
        "Un problème est survenu en lisant {bank}. bankd réessaiera.",
    ),
    (
        "state_other",
        "{bank} could not be synchronized. Try again later.",
        "{bank} n'a pas pu être synchronisée. Réessayez plus tard.",
    ),
    ("needs_you", "Needs you", "Action requise"),
    ("cancelled", "The connection was cancelled.", "La connexion a été annulée."),
    (
        "session_expired",
        "This page has expired. Go back to the application and start again.",
        "Cette page a expiré. Revenez à l'application et recommencez.",
    ),
    ("invalid_field", "{field}: {why}", "{field} : {why}"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_has_both_languages() {
        let mut keys: Vec<&str> = TEXTS.iter().map(|(k, ..)| *k).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), TEXTS.len(), "a key appears twice");
        for (key, en, fr) in TEXTS {
            assert!(!en.is_empty() && !fr.is_empty(), "{key}");
            let placeholders = |text: &str| text.matches('{').count();
            assert_eq!(placeholders(en), placeholders(fr), "{key}: the same placeholders in both");
        }
    }

    #[test]
    fn the_browser_language_decides_when_the_url_does_not() {
        assert_eq!(Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(Lang::from_accept_language("de-DE,fr;q=0.5"), Lang::Fr);
        assert_eq!(Lang::from_accept_language("de-DE"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }
}
